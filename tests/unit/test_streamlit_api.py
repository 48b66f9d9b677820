"""Deprecated Streamlit arguments stay out of the code base (issue 11, item 9i)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_use_container_width():
    # Streamlit deprecated use_container_width= in favour of width="stretch" and warns on every call.
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("app", "pages", "multimodal", "storage", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "use_container_width" in line
    ]
    assert offenders == [], "use width='stretch' instead of use_container_width in: " + ", ".join(offenders)
