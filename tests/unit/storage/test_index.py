"""Storage: the ONNX embedder, the Chroma vector index and the keyword index (FTS5 store, Tantivy ranking)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from storage.chroma_index import ChromaIndex
from storage.embedder import MODEL_ID, OnnxMiniLM, minilm_embedding_function, shared_embedder
from storage.keyword_index import KeywordIndex, match_expression


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLM:
    return shared_embedder()


def test_embeddings_are_unit_vectors_and_semantic(embedder: OnnxMiniLM) -> None:
    v = embedder.embed(["The cat sat on the mat.", "A feline rested on a rug.", "Interest rates rose sharply."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_batching_and_padding_do_not_change_vectors(embedder: OnnxMiniLM) -> None:
    texts = ["short", "a much longer sentence " * 20, "medium length text here"]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_long_text_is_truncated_not_rejected(embedder: OnnxMiniLM) -> None:
    assert embedder.embed(["token " * 5000]).shape == (1, 384)
    assert embedder.embed([]).shape == (0, 384)


def test_chroma_embedding_function_declares_itself(embedder: OnnxMiniLM) -> None:
    ef = minilm_embedding_function(embedder)
    assert ef.name() == "analyst-minilm-onnx-int8" and ef.get_config() == {"model_id": MODEL_ID}
    assert len(ef(["hello"])[0]) == 384


def _chunks(doc: str, n: int) -> tuple[list[str], list[str], list[dict]]:
    ids = [f"{doc}:1:{i}" for i in range(n)]
    texts = [f"Document {doc} chunk {i} about apples and pears." for i in range(n)]
    metas = [{"doc_id": doc, "page": 1, "char_start": 0, "char_end": len(t)} for t in texts]
    return ids, texts, metas


def test_chroma_add_search_delete_exactly(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    index = ChromaIndex(tmp_path / "chroma", embedder)
    index.add(*_chunks("a", 3))
    index.add(*_chunks("b", 2))
    assert index.count() == 5
    hits = index.search(index.embed_query("apples"), 10)
    assert len(hits) == 5 and all(-1.0 <= h.similarity <= 1.0 for h in hits)
    assert {h.metadata["doc_id"] for h in index.search(index.embed_query("apples"), 10, ["a"])} == {"b"}
    index.delete_document("a")
    assert index.count() == 2 and index.count("a") == 0 and index.count("b") == 2


def test_reopen_keeps_vectors_and_changed_model_resets(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    ChromaIndex(tmp_path / "chroma", embedder).add(*_chunks("a", 2))
    again = ChromaIndex(tmp_path / "chroma", embedder)
    assert not again.model_changed and again.count() == 2

    class OtherModel(OnnxMiniLM):
        model_id = "some-other-model"

        def __init__(self) -> None:  # reuse the loaded model, only the id differs
            self.__dict__.update(embedder.__dict__)

    changed = ChromaIndex(tmp_path / "chroma", OtherModel())
    assert changed.model_changed and changed.count() == 0
    assert changed._collection.metadata["embedding_model"] == "some-other-model"


def test_keyword_index_bm25_and_exact_delete(tmp_path: Path) -> None:
    kw = KeywordIndex(tmp_path / "kw.sqlite")
    kw.add([("a:1:0", "a", 1, "The median of a vector is computed with median()."),
            ("a:2:0", "a", 2, "Plots are drawn with plot() and lines()."),
            ("b:1:0", "b", 1, "Median household income rose in 2023.")])
    hits = kw.search("how do I compute the median?", 5)
    assert {h.chunk_id for h in hits} == {"a:1:0", "b:1:0"} and hits[0].score >= hits[-1].score
    assert [h.chunk_id for h in kw.search("median", 5, exclude_docs=["a"])] == ["b:1:0"]
    kw.add([("a:1:0", "a", 1, "Replaced text about plots.")])  # same id replaces, never duplicates
    assert kw.count("a") == 2
    assert kw.delete_document("a") == 2 and kw.count() == 1 and kw.count("b") == 1


def test_keyword_query_syntax_is_escaped(tmp_path: Path) -> None:
    kw = KeywordIndex(tmp_path / "kw.sqlite")
    kw.add([("a:1:0", "a", 1, "NEAR and OR are words too")])
    for nasty in ['"unbalanced', "a* OR NOT (", "col:value", "NEAR(", "'; DROP TABLE kw_chunks; --", "", "???"]:
        kw.search(nasty, 5)  # must not raise
    assert match_expression('say "hi"') == '"say" OR "hi"'
    assert kw.search("NEAR", 5)[0].chunk_id == "a:1:0"


def test_keyword_ranker_copy_is_rebuilt_and_stale_copy_falls_back(tmp_path: Path) -> None:
    """A lost or stale Tantivy copy never loses results: search falls back to FTS5 and reopening rebuilds it."""
    kw = KeywordIndex(tmp_path / "kw.sqlite")
    kw.add([("a:1:0", "a", 1, "The median of a vector is computed with median()."),
            ("b:1:0", "b", 1, "Plots are drawn with plot().")])
    marker = tmp_path / "kw.tantivy" / "generation"
    assert marker.read_text() == "1"
    marker.write_text("0")  # as after a crash between the SQLite and the Tantivy write
    assert [h.chunk_id for h in kw.search("median", 5)] == ["a:1:0"]
    shutil.rmtree(tmp_path / "kw.tantivy")  # a data directory from before the copy existed
    reopened = KeywordIndex(tmp_path / "kw.sqlite")
    assert marker.read_text() == "1"
    assert [h.chunk_id for h in reopened.search("plots drawn", 5)] == ["b:1:0"]
    assert reopened.search("median", 5, exclude_docs=["a"]) == []


def test_keyword_index_shared_by_two_openers(tmp_path: Path) -> None:
    """Two processes' indexes on one file: each sees the other's writes, and a busy writer is waited for."""
    first, second = KeywordIndex(tmp_path / "kw.sqlite"), KeywordIndex(tmp_path / "kw.sqlite")
    first.add([("a:1:0", "a", 1, "Quarterly revenue grew in the northern region.")])
    assert [h.chunk_id for h in second.search("revenue", 5)] == ["a:1:0"]
    held = threading.Event()

    def hold_writer() -> None:
        with first._ranker._writer(first._generation()):
            held.set()
            time.sleep(0.5)

    worker = threading.Thread(target=hold_writer)
    worker.start()
    held.wait(5)
    second.add([("b:1:0", "b", 2, "Revenue fell in the southern region.")])  # waits for the writer, then writes
    worker.join()
    assert {h.chunk_id for h in first.search("revenue region", 5)} == {"a:1:0", "b:1:0"}
    assert second.delete_document("a") == 1 and [h.chunk_id for h in first.search("revenue", 5)] == ["b:1:0"]
