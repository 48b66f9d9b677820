"""Retrieval quality on the R manual set (hit@1, hit@5, MRR, unanswerables refused) and query latency
p50/p95 with the index padded to 10k and 100k chunks (synthetic filler chunks, random unit vectors).

Latency is measured twice in the same run, alternating query by query so both see the same machine load:
`before` is the previous pipeline (count, vector query, FTS5 bm25() keyword query and a fetch of vectors, texts
and metadata of keyword-only hits, one after another), `after` is app.documents.search.hybrid_search (Tantivy
BM25 beside the vector side, vectors only for keyword-only hits). The profile
gives per-stage medians of both and the share of chunks the keyword OR-query matches (what BM25 must score).
Nothing is tuned per question; the library's default SearchConfig is used. Run: python -m bench.retrieval
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.documents.library import DocumentLibrary  # noqa: E402
from app.documents.search import SearchConfig, fuse, hybrid_search  # noqa: E402
from app.evaluation.scoring import first_gold_rank, hit_at, reciprocal_rank  # noqa: E402  (shared with `app eval`)
from bench.common import write_results  # noqa: E402
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


def pad_index(lib: DocumentLibrary, target: int, vocabulary: list[str], rng: random.Random) -> None:
    """Add synthetic filler chunks (random text and random unit vectors) until the index holds target chunks."""
    have = lib.vectors.count()
    batch = 5000
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    while have < target:
        n = min(batch, target - have)
        ids = [f"filler:{have + i}" for i in range(n)]
        texts = [" ".join(rng.choices(vocabulary, k=80)) for _ in range(n)]
        metas = [{"doc_id": "filler", "source": "filler.pdf", "page": 1, "char_start": 0, "char_end": len(t)}
                 for t in texts]
        vecs = nprng.standard_normal((n, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        lib.vectors.add(ids, texts, metas, embeddings=vecs)
        lib.keywords.add([(i, "filler", 1, t) for i, t in zip(ids, texts, strict=True)])
        have += n


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


def main() -> None:
    """Run quality then latency; write bench/results/retrieval.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Index sizes (chunks) for the latency part.")
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the questions per size.")
    parser.add_argument("--keyword-sizes", default="",
                        help="Also time the keyword stage alone (FTS5 bm25() vs Tantivy) at these sizes, e.g. 1000000: "
                             "no vectors, so it fits where padding Chroma to that size does not.")
    parser.add_argument("--chroma-url", default="",
                        help="Keep the vectors in this running Chroma server instead of the embedded store.")
    args = parser.parse_args()
    questions = [json.loads(x) for x in (DATA / "r-intro.questions.jsonl").read_text().splitlines() if x.strip()]
    report: dict = {"config": SearchConfig().__dict__, "vector_store": args.chroma_url or "embedded"}
    with tempfile.TemporaryDirectory() as tmp:
        lib = DocumentLibrary(Path(tmp) / "data", chroma_url=args.chroma_url)
        t0 = time.perf_counter()
        result = lib.ingest_file(DATA / "R-intro.pdf")
        report["ingest"] = {"seconds": time.perf_counter() - t0, "pages": result.pages, "chunks": result.chunks,
                            "fallback_pages": result.fallback_pages}
        report["quality"] = quality(lib, questions)
        qz = report["quality"]
        print(f"R-intro: {qz['answerable']} answerable, {qz['unanswerable']} unanswerable")
        print(f"hit@1 {qz['hit@1']:.3f}  hit@5 {qz['hit@5']:.3f} (target >= 0.90)  "
              f"MRR {qz['mrr']:.3f} (target >= 0.75)")
        print(f"unanswerable refused by retrieval: {qz['unanswerable_refused']}/{qz['unanswerable']}; "
              f"answerable wrongly refused: {qz['answerable_wrongly_refused']}")
        print(f"median top similarity: {qz['top_similarity_median']}")
        words = [w for q in questions for w in q["question"].split()] + lib.registry.page_text(result.id, 20).split()
        rng = random.Random(7)
        report["latency"] = {}
        for size in sorted(int(s) for s in args.sizes.split(",")):
            t0 = time.perf_counter()
            pad_index(lib, size, words, rng)
            pad_s = time.perf_counter() - t0
            load_before = os.getloadavg()[0]
            texts = [q["question"] for q in questions]
            lat = latency(lib, texts, args.rounds)
            lat.update(padding_seconds=round(pad_s, 1), keyword_matches=keyword_matches(lib, texts),
                       load_average_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)])
            report["latency"][str(size)] = lat
            print_latency(size, lat)
        if args.keyword_sizes:
            texts = [q["question"] for q in questions]
            report["keyword_stage"] = keyword_scale(Path(tmp), [int(x) for x in args.keyword_sizes.split(",")],
                                                    words, texts)
    report["note"] = ("shared 2-core machine with other jobs running: latencies are noisy; before and after alternate "
                      "query by query in one run, so compare their ratio rather than absolute figures across runs")
    write_results("retrieval-chroma-server" if args.chroma_url else "retrieval", report)


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
    km = lat["keyword_matches"]
    print(f"          keyword OR-query matches a median {km['median_matched_share']:.0%} of the chunks "
          f"(max {km['max_matched_share']:.0%}): FTS5 bm25() scores each of them")


if __name__ == "__main__":
    main()
