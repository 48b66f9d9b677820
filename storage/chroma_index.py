"""Vector index of chunks in a Chroma PersistentClient under `<data_dir>/chroma`.

The collection records the embedding model id in its metadata; opening it with a different
model drops and recreates it (the caller then re-embeds) instead of failing on a dimension
mismatch. Chroma never picks an embedder itself: ours is passed explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from storage.embedder import OnnxMiniLM, minilm_embedding_function

log = logging.getLogger(__name__)

COLLECTION = "documents"
_ADD_BATCH = 1000  # below Chroma's max batch size on every backend


@dataclass(frozen=True)
class VectorHit:
    """A chunk found by vector similarity (cosine, 1 = identical)."""

    chunk_id: str
    text: str
    metadata: dict[str, Any]
    similarity: float


class ChromaIndex:
    """Chunks, their metadata and their MiniLM vectors in Chroma."""

    def __init__(self, directory: Path, embedder: OnnxMiniLM) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.embedder = embedder
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(self.directory), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        self._ef = minilm_embedding_function(embedder)
        self.model_changed = False
        self._collection = self._open()

    def _open(self) -> Any:
        meta = {"hnsw:space": "cosine", "embedding_model": self.embedder.model_id}
        existing = {c.name for c in self._client.list_collections()}
        if COLLECTION in existing:
            # Read the stored metadata without binding an embedding function, so a stored
            # config from another model can never be resolved by name.
            found = self._client.get_collection(COLLECTION, embedding_function=None)
            stored = (found.metadata or {}).get("embedding_model")
            if stored != self.embedder.model_id:
                log.warning("Embedding model changed (%s -> %s): dropping vectors", stored, self.embedder.model_id)
                self._client.delete_collection(COLLECTION)
                self.model_changed = True
        return self._client.get_or_create_collection(COLLECTION, metadata=meta, embedding_function=self._ef)

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of a query."""
        return self.embedder.embed([text])[0]

    def add(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]],
            embeddings: np.ndarray | None = None) -> None:
        """Upsert chunks; embeds them unless vectors are given."""
        if not ids:
            return
        vectors = self.embedder.embed(list(texts)) if embeddings is None else embeddings
        for s in range(0, len(ids), _ADD_BATCH):
            e = s + _ADD_BATCH
            self._collection.upsert(
                ids=list(ids[s:e]),
                documents=list(texts[s:e]),
                metadatas=list(metadatas[s:e]),
                embeddings=[v.tolist() for v in vectors[s:e]],
            )

    def delete_document(self, doc_id: str) -> None:
        """Remove exactly the chunks of one document."""
        self._collection.delete(where={"doc_id": doc_id})

    def count(self, doc_id: str | None = None) -> int:
        """Number of chunks (of one document, or all)."""
        if doc_id is None:
            return self._collection.count()
        return len(self._collection.get(where={"doc_id": doc_id}, include=[])["ids"])

    def search(self, query_vector: np.ndarray, k: int, exclude_docs: Sequence[str] = ()) -> list[VectorHit]:
        """Nearest k chunks by cosine similarity, skipping documents in exclude_docs."""
        total = self._collection.count()
        if total == 0 or k <= 0:
            return []
        where = _exclude_where(exclude_docs)
        res = self._collection.query(
            query_embeddings=[query_vector.tolist()],
            n_results=min(k, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        ids, docs, metas, dists = res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
        rows = zip(ids, docs, metas, dists, strict=True)
        return [VectorHit(i, d or "", dict(m or {}), 1.0 - float(dist)) for i, d, m, dist in rows]

    def get(self, chunk_ids: Sequence[str], query_vector: np.ndarray | None = None) -> list[VectorHit]:
        """Fetch chunks by id; with a query vector, also their cosine similarity to it."""
        if not chunk_ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if query_vector is not None else [])
        res = self._collection.get(ids=list(chunk_ids), include=include)
        hits = []
        for n, cid in enumerate(res["ids"]):
            sim = 0.0
            if query_vector is not None:
                sim = float(np.dot(np.asarray(res["embeddings"][n], dtype=np.float32), query_vector))
            hits.append(VectorHit(cid, res["documents"][n] or "", dict(res["metadatas"][n] or {}), sim))
        return hits


def _exclude_where(exclude_docs: Sequence[str]) -> dict[str, Any] | None:
    ids = list(dict.fromkeys(exclude_docs))
    if not ids:
        return None
    if len(ids) == 1:
        return {"doc_id": {"$ne": ids[0]}}
    return {"doc_id": {"$nin": ids}}
