"""Retrieval quality on the R manual set (hit@1, hit@5, MRR, unanswerables refused) and query latency
p50/p95 with the index padded to 10k and 100k chunks (synthetic filler chunks, random unit vectors).

Latency is measured twice in the same run, alternating query by query so both see the same machine load:
`before` is the previous pipeline (count, vector query, FTS5 bm25() keyword query and a fetch of vectors, texts
and metadata of keyword-only hits, one after another), `after` is app.documents.search.hybrid_search (Tantivy
BM25 beside the vector side, vectors only for keyword-only hits). The profile
gives per-stage medians of both and the share of chunks the keyword OR-query matches (what BM25 must score).
Nothing is tuned per question; the library's default SearchConfig is used. Run: python -m bench.retrieval
The 1M-chunk rows (latency only, their own results files; padding prints progress and an ETA):
  nice -n 19 python -m bench.retrieval --sizes 1000000 --skip-quality                   # -> retrieval-1m.json
  nice -n 19 python -m bench.retrieval --sizes 1000000 --skip-quality --chroma-server   # -> retrieval-1m-chroma-server
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.documents.library import DocumentLibrary  # noqa: E402
from app.documents.search import SearchConfig, fuse, hybrid_search  # noqa: E402
from app.evaluation.scoring import first_gold_rank, hit_at, reciprocal_rank  # noqa: E402  (shared with `app eval`)
from bench.common import write_results  # noqa: E402
from storage.chroma_index import COLLECTION, SERVER_COLLECTION_FILE  # noqa: E402
from storage.keyword_index import KeywordIndex, match_expression  # noqa: E402

DATA = ROOT / "bench" / "data" / "docqa"


def quality(lib: DocumentLibrary, questions: list[dict], k: int = 5) -> dict:
    """hit@1, hit@5, MRR over answerable questions; refusals over unanswerable ones (by page ranking)."""
    hit1 = hit5 = rr = 0.0
    refused_ok = refused_wrong = 0
    answerable = [q for q in questions if q["pages"]]
    unanswerable = [q for q in questions if not q["pages"]]
    top_sims: dict[str, list[float]] = {"answerable": [], "unanswerable": []}
    misses = []
    for q in questions:
        passages = lib.search(q["question"], k=k)
        pages = [p.page for p in passages]
        bucket = "answerable" if q["pages"] else "unanswerable"
        top_sims[bucket].append(passages[0].similarity if passages else 0.0)
        if not q["pages"]:
            refused_ok += not passages
            continue
        refused_wrong += not passages
        rank = first_gold_rank(pages, q["pages"])
        hit1 += hit_at(rank, 1)
        hit5 += hit_at(rank, 5)
        rr += reciprocal_rank(rank)
        if rank != 1:
            misses.append({"id": q["id"], "gold": q["pages"], "got": pages})
    n = len(answerable)
    return {
        "answerable": n, "unanswerable": len(unanswerable),
        "hit@1": hit1 / n, "hit@5": hit5 / n, "mrr": rr / n,
        "unanswerable_refused": refused_ok, "answerable_wrongly_refused": refused_wrong,
        "top_similarity_median": {b: statistics.median(v) for b, v in top_sims.items() if v},
        "not_rank1": misses,
    }


def pad_index(lib: DocumentLibrary, target: int, vocabulary: list[str], rng: random.Random,
              batch: int = 20_000) -> dict[str, float]:
    """Add synthetic filler chunks (random text and random unit vectors) until the index holds target chunks.

    Goes through the product's add paths (ChromaIndex.add upserts 1000 at a time; KeywordIndex.add writes SQLite
    and Tantivy once per batch), so the indexes are built as ingestion builds them. Prints progress with an ETA.
    """
    have = start = lib.vectors.count()
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    spent = {"vectors_s": 0.0, "keywords_s": 0.0}
    t0 = last_print = time.perf_counter()
    while have < target:
        n = min(batch, target - have)
        ids = [f"filler:{have + i}" for i in range(n)]
        texts = [" ".join(rng.choices(vocabulary, k=80)) for _ in range(n)]
        metas = [{"doc_id": "filler", "source": "filler.pdf", "page": 1, "char_start": 0, "char_end": len(t)}
                 for t in texts]
        vecs = nprng.standard_normal((n, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        t1 = time.perf_counter()
        lib.vectors.add(ids, texts, metas, embeddings=vecs)
        t2 = time.perf_counter()
        lib.keywords.add([(i, "filler", 1, t) for i, t in zip(ids, texts, strict=True)])
        spent["vectors_s"] += t2 - t1
        spent["keywords_s"] += time.perf_counter() - t2
        have += n
        now = time.perf_counter()
        if now - last_print >= 30 or have >= target:
            last_print = now
            rate = (have - start) / (now - t0)
            print(f"  padding {have:>9,}/{target:,} chunks  {rate:,.0f} chunks/s  elapsed {(now - t0) / 60:.1f} min  "
                  f"ETA {(target - have) / rate / 60:.1f} min  (vectors {spent['vectors_s']:.0f} s, "
                  f"keywords {spent['keywords_s']:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)
    return {k: round(v, 1) for k, v in spent.items()}


def baseline_search(lib: DocumentLibrary, query: str, profile: dict[str, float]) -> list[str]:
    """The pipeline before the profile-driven fix, stage by stage, for a before/after in one run."""
    config, hidden = lib.config, lib.registry.not_queryable_ids()
    marks = [time.perf_counter()]

    def mark(stage: str) -> None:
        marks.append(time.perf_counter())
        profile[stage] = (marks[-1] - marks[-2]) * 1000

    qvec = lib.vectors.embed_query(query)
    mark("embed")
    lib.vectors._collection.count()  # the old search counted the collection before every query
    mark("count")
    vhits = lib.vectors.search(qvec, config.candidates, hidden)
    mark("vector")
    khits = lib.keywords.search_fts(query, config.candidates, hidden)  # the old ranker: FTS5's bm25()
    mark("keyword")
    by_id = {h.chunk_id: h for h in vhits}
    for hit in lib.vectors.get([h.chunk_id for h in khits if h.chunk_id not in by_id], qvec):
        by_id[hit.chunk_id] = hit
    mark("fetch")
    fused = fuse([[h.chunk_id for h in vhits], [h.chunk_id for h in khits if h.chunk_id in by_id]], config.rrf_k)
    kept = [cid for cid, _ in sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
            if by_id[cid].similarity >= config.min_similarity]
    mark("fuse")
    profile["total"] = (marks[-1] - marks[0]) * 1000
    return kept[: config.k]


def percentiles(samples: list[float]) -> dict:
    """n, p50 and p95 (nearest rank) in milliseconds."""
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_ms": round(ordered[len(ordered) // 2], 2),
            "p95_ms": round(ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)], 2)}


def latency(lib: DocumentLibrary, queries: list[str], rounds: int) -> dict:
    """Before and after, alternating per query: p50/p95 of the whole search and median milliseconds per stage."""
    stages: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    hidden = lib.registry.not_queryable_ids()
    # One untimed search first: a store opened cold (a Chroma server serving an existing store) loads its index then.
    baseline_search(lib, queries[0], {})
    hybrid_search(queries[0], lib.vectors, lib.keywords, k=lib.config.k, exclude_docs=hidden, config=lib.config)
    for n in range(rounds):
        for i, q in enumerate(queries):
            order = ("before", "after") if (i + n) % 2 == 0 else ("after", "before")
            for which in order:
                profile: dict[str, float] = {}
                if which == "before":
                    baseline_search(lib, q, profile)
                else:
                    hybrid_search(q, lib.vectors, lib.keywords, k=lib.config.k, exclude_docs=hidden,
                                  config=lib.config, profile=profile)
                for stage, ms in profile.items():
                    stages[which].setdefault(stage, []).append(ms)
    out: dict = {}
    for which, by_stage in stages.items():
        out[which] = percentiles(by_stage["total"])
        out[which]["stage_median_ms"] = {s: round(statistics.median(v), 2) for s, v in by_stage.items()}
        out[which]["stage_p95_ms"] = {s: percentiles(v)["p95_ms"] for s, v in by_stage.items()}
    out["p50_ratio_after_over_before"] = round(out["after"]["p50_ms"] / out["before"]["p50_ms"], 3)
    out["p95_ratio_after_over_before"] = round(out["after"]["p95_ms"] / out["before"]["p95_ms"], 3)
    return out


def keyword_matches(lib: DocumentLibrary, queries: list[str]) -> dict:
    """How many chunks each keyword OR-query matches: FTS5's bm25() scores every one, Tantivy skips most."""
    total = lib.keywords.count()
    counts = []
    with sqlite3.connect(lib.keywords.path) as con:
        for q in queries:
            counts.append(con.execute("SELECT count(*) FROM kw_fts WHERE kw_fts MATCH ?",
                                      (match_expression(q),)).fetchone()[0])
    return {"chunks": total, "median_matched": statistics.median(counts),
            "median_matched_share": round(statistics.median(counts) / total, 3),
            "max_matched_share": round(max(counts) / total, 3)}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Index sizes (chunks) for the latency part.")
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the questions per size.")
    parser.add_argument("--keyword-sizes", default="",
                        help="Also time the keyword stage alone (FTS5 bm25() vs Tantivy) at these sizes, e.g. 1000000: "
                             "no vectors, so it fits where padding Chroma to that size does not.")
    parser.add_argument("--chroma-url", default="",
                        help="Keep the vectors in this running Chroma server instead of the embedded store.")
    parser.add_argument("--chroma-server", action="store_true",
                        help="Start `chroma run` on 127.0.0.1 (data in the temporary directory) and use it; "
                             "stopped and deleted at the end.")
    parser.add_argument("--skip-quality", action="store_true",
                        help="Latency rows only (the R manual is still ingested: the questions need it). Results go "
                             "to their own file, e.g. retrieval-1m.json, so the full results are not overwritten.")
    parser.add_argument("--batch", type=int, default=20_000, help="Filler chunks per padding batch.")
    parser.add_argument("--data-dir", default="",
                        help="Keep the indexes here instead of a temporary directory (kept; a later run reuses them: "
                             "with --chroma-server, `chroma run` serves the embedded store an earlier run built here).")
    return parser.parse_args()


def results_name(args: argparse.Namespace, sizes: list[int]) -> str:
    """retrieval[-1m][-chroma-server]: a latency-only run names its sizes, so it never replaces the full results."""
    name = "retrieval"
    if args.skip_quality:
        name += "-" + "-".join(f"{s // 1_000_000}m" if s % 1_000_000 == 0 else f"{s // 1000}k" for s in sizes)
    return name + ("-chroma-server" if args.chroma_url or args.chroma_server else "")


def main() -> None:
    """Run quality (unless skipped) then latency per size; write bench/results/retrieval*.json."""
    args = parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with ExitStack() as stack:
        tmp = args.data_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-retrieval-"))
        url = args.chroma_url
        if args.chroma_server:
            url = stack.enter_context(chroma_server(server_path(Path(tmp))))
        report: dict = {"config": SearchConfig().__dict__, "vector_store": url or "embedded",
                        "niceness": os.nice(0)}
        print(f"data in {tmp}; vectors in {report['vector_store']}", flush=True)
        lib = DocumentLibrary(Path(tmp) / "data", chroma_url=url)
        t0 = time.perf_counter()
        result = lib.ingest_file(DATA / "R-intro.pdf")
        report["ingest"] = {"seconds": time.perf_counter() - t0, "pages": result.pages, "chunks": result.chunks,
                            "fallback_pages": result.fallback_pages}
        questions = [json.loads(x) for x in (DATA / "r-intro.questions.jsonl").read_text().splitlines() if x.strip()]
        if not args.skip_quality:
            report["quality"] = quality(lib, questions)
            print_quality(report["quality"])
        words = [w for q in questions for w in q["question"].split()] + lib.registry.page_text(result.id, 20).split()
        texts = [q["question"] for q in questions]
        rng = random.Random(7)
        report["latency"] = {}
        for size in sizes:
            report["latency"][str(size)] = latency_row(lib, size, words, texts, rng, args)
        if args.keyword_sizes:
            report["keyword_stage"] = keyword_scale(Path(tmp), [int(x) for x in args.keyword_sizes.split(",")],
                                                    words, texts)
        report["disk_bytes"] = du(Path(tmp))
    report["note"] = ("shared 2-core machine with other jobs running: latencies are noisy; before and after alternate "
                      "query by query in one run, so compare their ratio rather than absolute figures across runs")
    write_results(results_name(args, sizes), report)


def latency_row(lib: DocumentLibrary, size: int, words: list[str], texts: list[str], rng: random.Random,
                args: argparse.Namespace) -> dict:
    """Pad to size, then before/after latency with the per-stage profile; printed and returned."""
    t0 = time.perf_counter()
    spent = pad_index(lib, size, words, rng, args.batch)
    pad_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    lat = latency(lib, texts, args.rounds)
    lat.update(padding_seconds=round(pad_s, 1), padding_split=spent, keyword_matches=keyword_matches(lib, texts),
               load_average_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
               max_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print_latency(size, lat)
    return lat


def print_quality(qz: dict) -> None:
    """The quality figures, one line each."""
    print(f"R-intro: {qz['answerable']} answerable, {qz['unanswerable']} unanswerable")
    print(f"hit@1 {qz['hit@1']:.3f}  hit@5 {qz['hit@5']:.3f} (target >= 0.90)  "
          f"MRR {qz['mrr']:.3f} (target >= 0.75)")
    print(f"unanswerable refused by retrieval: {qz['unanswerable_refused']}/{qz['unanswerable']}; "
          f"answerable wrongly refused: {qz['answerable_wrongly_refused']}")
    print(f"median top similarity: {qz['top_similarity_median']}")


def du(path: Path) -> int:
    """Bytes under path (what the padded indexes take on disk)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def server_path(root: Path) -> Path:
    """Where `chroma run` keeps its data: the embedded store an earlier run built under root (its collection, by
    name), else a fresh folder."""
    embedded = root / "data" / "chroma"
    if not (embedded / "chroma.sqlite3").exists():
        return root / "chroma-server"
    name_file = embedded / SERVER_COLLECTION_FILE
    if not name_file.exists():
        name_file.write_text(COLLECTION + "\n", encoding="utf-8")
    return embedded


@contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """`chroma run` on a free 127.0.0.1 port (as tests/fixtures/chroma_server.py starts it); yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    log = (path.parent / "chroma-server.log").open("ab")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not _heartbeat(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"chroma run did not start (exit code {proc.poll()}); see {log.name}")
            time.sleep(0.2)
        print(f"chroma run started on {url} (pid {proc.pid})", flush=True)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _heartbeat(url: str) -> bool:
    try:
        return httpx.get(url + "/api/v2/heartbeat", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def keyword_scale(tmp: Path, sizes: list[int], vocabulary: list[str], queries: list[str]) -> dict:
    """The keyword stage alone on a filler-only index: FTS5 bm25() (before) against Tantivy (after)."""
    kw = KeywordIndex(tmp / "keyword-scale" / "kw.sqlite")
    rng, have, out = random.Random(11), 0, {}
    for size in sorted(sizes):
        t0 = time.perf_counter()
        while have < size:
            n = min(50_000, size - have)
            kw.add([(f"filler:{have + i}", "filler", 1, " ".join(rng.choices(vocabulary, k=80))) for i in range(n)])
            have += n
        timings: dict[str, list[float]] = {"before_fts5": [], "after_tantivy": []}
        for q in queries:
            for which, search in (("before_fts5", kw.search_fts), ("after_tantivy", kw.search)):
                start = time.perf_counter()
                search(q, 40)
                timings[which].append((time.perf_counter() - start) * 1000)
        row = {which: percentiles(v) for which, v in timings.items()}
        row.update(padding_seconds=round(time.perf_counter() - t0, 1), load_average_1min=round(os.getloadavg()[0], 2))
        out[str(size)] = row
        print(f"{size:>7} chunks, keyword stage only: FTS5 p50 {row['before_fts5']['p50_ms']:.1f} ms "
              f"p95 {row['before_fts5']['p95_ms']:.1f} ms | Tantivy p50 {row['after_tantivy']['p50_ms']:.1f} ms "
              f"p95 {row['after_tantivy']['p95_ms']:.1f} ms")
    return out


def print_latency(size: int, lat: dict) -> None:
    """One size: before/after p50 and p95, their ratio, stage medians and how much the keyword query matches."""
    b, a = lat["before"], lat["after"]
    print(f"{size:>7} chunks: before p50 {b['p50_ms']:.1f} ms p95 {b['p95_ms']:.1f} ms | "
          f"after p50 {a['p50_ms']:.1f} ms p95 {a['p95_ms']:.1f} ms | "
          f"after/before p50 {lat['p50_ratio_after_over_before']} "
          f"p95 {lat['p95_ratio_after_over_before']} (n={a['n']}, load {lat['load_average_1min']})")
    for which in ("before", "after"):
        stages = "  ".join(f"{s} {ms:.1f}" for s, ms in lat[which]["stage_median_ms"].items())
        print(f"          {which:6s} stage medians (ms): {stages}")
        stages = "  ".join(f"{s} {ms:.1f}" for s, ms in lat[which].get("stage_p95_ms", {}).items())
        print(f"          {which:6s} stage p95 (ms):     {stages}")
    km = lat["keyword_matches"]
    print(f"          keyword OR-query matches a median {km['median_matched_share']:.0%} of the chunks "
          f"(max {km['max_matched_share']:.0%}): FTS5 bm25() scores each of them")


if __name__ == "__main__":
    main()
