"""Check the first held-out set's document questions against their PDFs with the shared checks of bench/docqa_set_check.py
(what they check is written there); this file holds only the set's files, number items and key terms.

Usage: python bench/data/docqa_heldout/check_questions.py   (prints one line per problem and exits 1 if there is any)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # run as a script: the project root holds the shared checks

from bench.docqa_set_check import run_checks  # noqa: E402

SETS = {"R-data.pdf": "r-data.questions.jsonl", "R-lang.pdf": "r-lang.questions.jsonl"}
# Terms whose absence from the whole manual shows that an unanswerable question is not answered there.
ABSENT = {
    "rdata-u01": ["parquet"], "rdata-u02": ["json"], "rdata-u03": ["5432", "port"],
    "rdata-u04": ["google"], "rdata-u05": ["matlab", ".mat "], "rdata-u06": ["fread", "data.table"],
    "rdata-u07": ["kafka"], "rdata-u08": ["saverds", "xz"], "rdata-u09": ["scrap", "rvest"],
    "rdata-u10": ["1048576", "1,048,576", "maximum number of rows"],
    "rlang-u01": ["r6"], "rlang-u02": ["setrefclass", "reference class"], "rlang-u03": ["jit", "cmpfun"],
    "rlang-u04": ["maximum length", "2^31", "2147483647"], "rlang-u05": ["mclapply", "parallel"],
    "rlang-u06": ["garbage", "gc("], "rlang-u07": ["trycatch"], "rlang-u08": ["{{", "tidy"],
    "rlang-u09": ["rprof", "profil"], "rlang-u10": ["reticulate", "python"],
}


if __name__ == "__main__":
    raise SystemExit(run_checks(HERE, SETS, ABSENT, None, "all held-out document questions check out"))
