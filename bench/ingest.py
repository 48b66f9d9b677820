"""Ingestion speed: pages/s from PDF file to queryable, next to two baselines measured in the same run.

(a) pypdf extraction alone + embedding alone of the same chunk texts (the floor: no storage at all);
(b) LangChain PyPDFLoader + RecursiveCharacterTextSplitter + Chroma with the same embedding model
    (needs requirements-bench.txt; skipped with a note if LangChain is not installed).
Pipelines are interleaved per repeat so machine noise hits them alike. Run: python -m bench.ingest
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.documents.library import DocumentLibrary  # noqa: E402
from bench.common import write_results  # noqa: E402
from multimodal.chunking import chunk_page  # noqa: E402
from multimodal.pdf import normalise_page_text  # noqa: E402
from storage.embedder import shared_embedder  # noqa: E402

DEFAULT_PDF = ROOT / "bench" / "data" / "docqa" / "R-intro.pdf"


def subset_pdf(source: Path, pages: int | None, out_dir: Path) -> Path:
    """The first `pages` pages of source as a new PDF (or source itself)."""
    from pypdf import PdfReader, PdfWriter

    if not pages:
        return source
    writer = PdfWriter()
    for page in PdfReader(source).pages[:pages]:
        writer.add_page(page)
    buf = io.BytesIO()
    writer.write(buf)
    path = out_dir / f"{source.stem}-first{pages}.pdf"
    path.write_bytes(buf.getvalue())
    return path


def run_ours(pdf: Path, work: Path) -> float:
    """File -> queryable with DocumentLibrary (fresh data dir)."""
    lib = DocumentLibrary(work / "ours")
    start = time.perf_counter()
    result = lib.ingest_file(pdf)
    elapsed = time.perf_counter() - start
    assert result.status == "indexed" and lib.search("vector", k=1) is not None
    return elapsed


def run_floor(pdf: Path) -> float:
    """pypdf extract_text of every page + embedding of the same chunks, nothing stored."""
    from pypdf import PdfReader

    embedder = shared_embedder()
    start = time.perf_counter()
    texts = [normalise_page_text(p.extract_text() or "") for p in PdfReader(pdf).pages]
    chunks = [c.text for n, t in enumerate(texts, 1) for c in chunk_page(t, n)]
    embedder.embed(chunks)
    return time.perf_counter() - start


def run_langchain(pdf: Path, work: Path) -> float:
    """What a user would otherwise write with LangChain, using the same embedding model."""
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    model = shared_embedder()

    class SameModel(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return model.embed(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return model.embed([text])[0].tolist()

    start = time.perf_counter()
    docs = PyPDFLoader(str(pdf)).load()
    splits = RecursiveCharacterTextSplitter(chunk_size=700, chunk_overlap=150).split_documents(docs)
    store = Chroma.from_documents(
        splits, SameModel(), persist_directory=str(work / "lc"), collection_name="langchain_bench"
    )
    store.similarity_search("vector", k=1)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and write bench/results/ingest.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--pages", type=int, default=40, help="Use the first N pages (0 = all).")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import langchain_chroma  # noqa: F401
        import langchain_community  # noqa: F401

        have_lc = True
    except ImportError:
        have_lc = False
        print("LangChain not installed (pip install -r requirements-bench.txt): baseline (b) skipped")
    shared_embedder().embed(["warm up"])
    times: dict[str, list[float]] = {"ours": [], "floor_pypdf_plus_embed": [], "langchain": []}
    with tempfile.TemporaryDirectory() as tmp:
        pdf = subset_pdf(args.pdf, args.pages or None, Path(tmp))
        from pypdf import PdfReader

        pages = len(PdfReader(pdf).pages)
        for r in range(args.repeats):
            work = Path(tmp) / f"run{r}"
            work.mkdir()
            times["ours"].append(run_ours(pdf, work))
            times["floor_pypdf_plus_embed"].append(run_floor(pdf))
            if have_lc:
                times["langchain"].append(run_langchain(pdf, work))
            print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in times.items() if v))
    med = {k: statistics.median(v) for k, v in times.items() if v}
    report = {
        "pdf": args.pdf.name, "pages": pages, "repeats": args.repeats, "seconds": times,
        "median_seconds": med, "pages_per_second": {k: pages / v for k, v in med.items()},
        "ours_vs_floor": med["ours"] / med["floor_pypdf_plus_embed"],
        "ours_vs_langchain": med["ours"] / med["langchain"] if "langchain" in med else None,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "note": "shared 2-core machine with other jobs running: figures are noisy",
    }
    for k, v in med.items():
        print(f"{k:26} median {v:6.1f} s  {pages / v:6.2f} pages/s")
    print(f"ours / floor (a): {report['ours_vs_floor']:.2f}x time (target <= 1.15)")
    if report["ours_vs_langchain"] is not None:
        print(f"ours / langchain (b): {report['ours_vs_langchain']:.2f}x time (target < 1.0)")
    write_results("ingest", report)


if __name__ == "__main__":
    main()
