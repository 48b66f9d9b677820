"""Rebuild the demo's derived files from the project's bundled public data (run once by a maintainer; the app
never runs it): the WHO air-quality table as CSV and a chart of it as PNG. `python -m app.demo.build_data`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
COLUMNS = ("who_region, iso3, country_name, city, year, pm10_concentration, pm25_concentration, no2_concentration, "
           "population, latitude, longitude")


def main() -> None:
    """Copy the PDF and the recording, write the table as CSV and draw the chart."""
    import duckdb
    import vl_convert

    DATA.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "bench/data/docqa/R-intro.pdf", DATA / "R-intro.pdf")
    shutil.copyfile(ROOT / "bench/data/librivox_sense_and_sensibility.flac", DATA / "sense_and_sensibility.flac")
    con = duckdb.connect(str(ROOT / "bench/data/sql/databases/who.duckdb"), read_only=True)
    try:
        con.execute(f"COPY (SELECT {COLUMNS} FROM ambient_air_quality ORDER BY iso3, city, year) "
                    f"TO '{DATA / 'who_air_quality.csv'}' (HEADER, DELIMITER ',')")
        rows = con.execute("SELECT who_region, ROUND(AVG(pm25_concentration), 1) FROM ambient_air_quality "
                           "WHERE pm25_concentration IS NOT NULL GROUP BY 1 ORDER BY 2 DESC").fetchall()
    finally:
        con.close()
    spec = {"title": "Average PM2.5 (µg/m³) by WHO region, WHO ambient air quality sample", "width": 480,
            "height": 260, "data": {"values": [{"region": r, "pm25": v} for r, v in rows]}, "mark": "bar",
            "encoding": {"x": {"field": "region", "type": "nominal", "sort": None, "title": "WHO region"},
                         "y": {"field": "pm25", "type": "quantitative", "title": "Average PM2.5"}}}
    (DATA / "who_pm25_by_region.png").write_bytes(bytes(vl_convert.vegalite_to_png(json.dumps(spec), scale=2)))


if __name__ == "__main__":
    main()
