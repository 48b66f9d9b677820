"""Check the second dev set's document questions against their PDFs with the shared checks of bench/docqa_set_check.py
(what they check is written there); this file holds only the set's files, number items and key terms.

Usage: python bench/data/docqa_dev2/check_questions.py   (prints one line per problem and exits 1 if there is any)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # run as a script: the project root holds the shared checks

from bench.docqa_set_check import run_checks  # noqa: E402

SETS = {"R-ints.pdf": "r-ints.questions.jsonl", "asymptote.pdf": "asymptote.questions.jsonl"}
# Answerable items whose answer must state a number (for "numbers traced"): 5 per manual.
NUMERIC = {
    "rints-001", "rints-002", "rints-008", "rints-010", "rints-012",
    "asy-001", "asy-002", "asy-004", "asy-009", "asy-011",
}
# Terms whose absence from the whole manual shows that an unanswerable question is not answered there.
ABSENT = {
    "rints-u01": ["llvm"], "rints-u02": ["openmp"], "rints-u03": ["rcpp"], "rints-u04": ["webassembly", "wasm"],
    "rints-u05": ["rust"], "rints-u06": ["reticulate", "python"], "rints-u07": ["jemalloc", "tcmalloc"],
    "rints-u08": ["valgrind", "sanitizer", "asan"], "rints-u09": ["arrow", "parquet", "mmap", "memory-mapped"],
    "rints-u10": ["gpu", "cuda"],
    "asy-u01": ["powerpoint", "pptx"], "asy-u02": ["vulkan"], "asy-u03": ["jupyter", "notebook"],
    "asy-u04": ["blender"], "asy-u05": ["qr code", "qrcode"], "asy-u06": ["shapefile", "geojson"],
    "asy-u07": ["tikz"], "asy-u08": ["alt text", "screen reader", "accessibility"],
    "asy-u09": ["ray tracing", "raytracing", "pov-ray", "povray"], "asy-u10": ["inkscape"],
}


if __name__ == "__main__":
    raise SystemExit(run_checks(HERE, SETS, ABSENT, NUMERIC, "OK: all second dev-set document questions check out"))
