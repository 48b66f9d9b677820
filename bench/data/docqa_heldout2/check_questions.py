"""Check the second held-out set's document questions against their PDFs with the shared checks of bench/docqa_set_check.py
(what they check is written there); this file holds only the set's files, number items and key terms.

Usage: python bench/data/docqa_heldout2/check_questions.py   (prints one line per problem and exits 1 if there is any)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # run as a script: the project root holds the shared checks

from bench.docqa_set_check import run_checks  # noqa: E402

SETS = {"R-admin.pdf": "r-admin.questions.jsonl", "gmpl.pdf": "gmpl.questions.jsonl"}
# Answerable items whose answer must state a number (for "numbers traced"): 5 per manual.
NUMERIC = {
    "radmin-001", "radmin-003", "radmin-004", "radmin-007", "radmin-009",
    "gmpl-003", "gmpl-008", "gmpl-009", "gmpl-010", "gmpl-012",
}
# Terms whose absence from the whole manual shows that an unanswerable question is not answered there.
ABSENT = {
    "radmin-u01": ["conda", "anaconda"], "radmin-u02": ["docker", "container"], "radmin-u03": ["rstudio"],
    "radmin-u04": ["gpu", "cuda", "nvidia"], "radmin-u05": ["renv", "packrat"],
    "radmin-u06": ["chromebook", "chrome os", "chromeos"],
    "radmin-u07": ["cve", "vulnerability", "vulnerabilities", "security advisor"], "radmin-u08": ["raspberry"],
    "radmin-u09": ["shiny"], "radmin-u10": ["winget", "chocolatey"],
    "gmpl-u01": ["semicontinuous", "semi-continuous"], "gmpl-u02": ["excel", "xlsx", "spreadsheet"],
    "gmpl-u03": ["thread", "threads", "parallel"], "gmpl-u04": ["sos", "sos2", "special ordered"],
    "gmpl-u05": ["piecewise", "piece-wise"], "gmpl-u06": ["gap", "mipgap", "tolerance"], "gmpl-u07": ["json"],
    "gmpl-u08": ["python"], "gmpl-u09": ["mps"], "gmpl-u10": ["warm", "initial solution", "starting solution"],
}


if __name__ == "__main__":
    raise SystemExit(run_checks(HERE, SETS, ABSENT, NUMERIC, "OK: all second held-out document questions check out"))
