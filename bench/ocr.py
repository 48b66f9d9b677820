"""Benchmark: OCR character error rate and seconds per image.

Sets: clean rendered text (DejaVu fonts, several sizes), the same pages degraded like a phone photo
(rotation, blur, JPEG artefacts, noise), and any real document images you pass with --images DIR
(each `name.png|jpg` with its ground truth in `name.gt.txt`). Prints medians; JSON into bench/results/.

    python bench/ocr.py [--images DIR] [--repeats 2]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import edit_distance, write_results  # noqa: E402
from multimodal.image import ocr_image_bytes  # noqa: E402
from multimodal.ocr import get_engine  # noqa: E402

FONTS = Path("/usr/share/fonts/truetype/dejavu")
TEXTS = [
    ["Quarterly report 2024", "Revenue grew 12% to EUR 4.2 million", "Operating margin: 18.5%",
     "Headcount at year end: 142", "Next review on 2025-03-31"],
    ["Invoice no. 4471", "Customer: Northwind Traders", "Amount due: 1,234.50", "Payment terms: 30 days",
     "Contact: billing@example.com"],
    ["Meeting notes", "Agree budget for the data platform", "Owner: A. Smith (analytics)",
     "Risks: vendor lock-in, staffing", "Decision expected in two weeks"],
]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate (edit distance / reference length), whitespace collapsed."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    return edit_distance(ref, hyp) / max(1, len(ref))


def render(lines: list[str], font_file: str, size: int) -> Image.Image:
    """A white page with the lines in black."""
    font = ImageFont.truetype(str(FONTS / font_file), size) if (FONTS / font_file).exists() else \
        ImageFont.load_default(size=size)
    image = Image.new("RGB", (int(size * 30), int(size * 2.0 * len(lines) + size * 2)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size + i * size * 2.0), line, font=font, fill="black")
    return image


def degrade(image: Image.Image, seed: int) -> bytes:
    """Imitate a phone photo of a page: slight rotation, blur, grey cast, noise, strong JPEG."""
    rng = random.Random(seed)
    out = image.rotate(rng.uniform(-3, 3), expand=True, fillcolor=(235, 232, 225), resample=Image.Resampling.BICUBIC)
    out = out.filter(ImageFilter.GaussianBlur(0.8))
    noise = Image.effect_noise(out.size, 18).convert("RGB")
    out = Image.blend(out, noise, 0.12)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=35)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def cases(images_dir: Path | None) -> list[tuple[str, str, str, bytes]]:
    """(set, name, reference, image bytes) for every benchmark image."""
    out = []
    for i, lines in enumerate(TEXTS):
        for font, size in (("DejaVuSans.ttf", 28), ("DejaVuSerif.ttf", 20), ("DejaVuSansMono.ttf", 16)):
            page = render(lines, font, size)
            ref = "\n".join(lines)
            out.append(("rendered", f"text{i}-{font[:-4]}-{size}", ref, png(page)))
            out.append(("photo-like", f"text{i}-{font[:-4]}-{size}", ref, degrade(page, seed=i * 100 + size)))
    if images_dir:
        for path in sorted(images_dir.iterdir()):
            gt = path.with_suffix(".gt.txt")
            if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff") and gt.exists():
                out.append(("real", path.name, gt.read_text(encoding="utf-8"), path.read_bytes()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="Folder of real document images with name.gt.txt beside each.")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    get_engine()
    load_s = time.perf_counter() - t0
    rows = []
    for kind, name, ref, data in cases(args.images):
        times, text = [], ""
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            text = ocr_image_bytes(data, name).text
            times.append(time.perf_counter() - t0)
        rows.append({"set": kind, "image": name, "cer": round(cer(ref, text), 4),
                     "median_s": round(statistics.median(times), 3), "chars": len(ref)})
        print(f"{kind:10} {name:32} CER {rows[-1]['cer']:.3f}  {rows[-1]['median_s']:.2f} s", flush=True)
    summary = {}
    for kind in sorted({r["set"] for r in rows}):
        sel = [r for r in rows if r["set"] == kind]
        summary[kind] = {"images": len(sel), "median_cer": statistics.median(r["cer"] for r in sel),
                         "mean_cer": round(statistics.fmean(r["cer"] for r in sel), 4),
                         "median_s_per_image": statistics.median(r["median_s"] for r in sel)}
    if "rendered" in summary and "photo-like" in summary:
        summary["photo_vs_rendered_time_ratio"] = round(
            summary["photo-like"]["median_s_per_image"] / summary["rendered"]["median_s_per_image"], 3)
    print(f"engine load {load_s:.2f} s")
    for kind, s in summary.items():
        print(f"{kind}: {s}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    write_results(f"ocr-{stamp}", {"benchmark": "ocr", "when": stamp, "engine_load_s": round(load_s, 3),
                                   "summary": summary, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
