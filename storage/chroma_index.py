"""Vector index of chunks: a Chroma PersistentClient under `<data_dir>/chroma`, or a Chroma server (`chroma_url`).

On a server, one collection per library, named by an id created once and kept in `<library>/chroma/`
(`server_collection`): two data directories (and a data directory's evaluation library) sharing one server never
see each other's chunks, and the name survives moving the folder. Embeddings are always computed here.
A server that cannot be reached raises VectorStoreUnavailableError naming its URL.

The collection records the embedding model id in its metadata; opening it with a different
model drops and recreates it (the caller then re-embeds) instead of failing on a dimension
mismatch. Chroma never picks an embedder itself: ours is passed explicitly.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import numpy as np

from app.errors import VectorStoreUnavailableError
from storage.embedder import OnnxMiniLM, minilm_embedding_function

log = logging.getLogger(__name__)

COLLECTION = "documents"
_ADD_BATCH = 1000  # below Chroma's max batch size on every backend
SERVER_COLLECTION_FILE = "server_collection"
HEARTBEAT = "/api/v2/heartbeat"
START_TIMEOUT_S = 10.0  # for the heartbeat when the index opens
T = TypeVar("T")


@dataclass(frozen=True)
class VectorHit:
    """A chunk found by vector similarity (cosine, 1 = identical)."""

    chunk_id: str
    text: str
    metadata: dict[str, Any]
    similarity: float


class ChromaIndex:
    """Chunks, their metadata and their MiniLM vectors in Chroma."""

    def __init__(self, directory: Path, embedder: OnnxMiniLM, url: str = "") -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.embedder = embedder
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.url = url
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if url:
            parts = urlsplit(url)
            self.collection_name = server_collection_name(self.directory)
            # chromadb's HttpClient waits without a time limit: a server that never answers must fail here instead.
            problem = server_problem(url, timeout=START_TIMEOUT_S)
            if problem is not None:
                raise problem
            with self._reachable():
                self._client = chromadb.HttpClient(host=parts.hostname or "", port=parts.port or 8000,
                                                   ssl=parts.scheme == "https", settings=chroma_settings)
        else:
            self.collection_name = COLLECTION
            self._client = chromadb.PersistentClient(path=str(self.directory), settings=chroma_settings)
        self._ef = minilm_embedding_function(embedder)
        self.model_changed = False
        with self._reachable():
            self._collection = self._open()

    @property
    def location(self) -> str:
        """Where the vectors live: the server's URL, or the embedded store's folder."""
        return self.url or str(self.directory)

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        # The only faults turned into a typed error are those of reaching the server; anything else is a bug.
        try:
            yield
        except (httpx.TransportError, ConnectionError) as exc:
            raise unreachable(self.url, exc) from exc
        except ValueError as exc:
            if not self.url or "connect" not in str(exc).lower():
                raise
            raise unreachable(self.url, exc) from exc

    def _call(self, fn: Callable[[], T]) -> T:
        with self._reachable():
            return fn()

    def _open(self) -> Any:
        meta = {"hnsw:space": "cosine", "embedding_model": self.embedder.model_id}
        existing = {c.name for c in self._client.list_collections()}
        name = self.collection_name
        if name in existing:
            # Read the stored metadata without binding an embedding function, so a stored
            # config from another model can never be resolved by name.
            found = self._client.get_collection(name, embedding_function=None)
            stored = (found.metadata or {}).get("embedding_model")
            if stored != self.embedder.model_id:
                log.warning("Embedding model changed (%s -> %s): dropping vectors", stored, self.embedder.model_id)
                self._client.delete_collection(name)
                self.model_changed = True
        return self._client.get_or_create_collection(name, metadata=meta, embedding_function=self._ef)

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
            with self._reachable():
                self._collection.upsert(
                    ids=list(ids[s:e]),
                    documents=list(texts[s:e]),
                    metadatas=list(metadatas[s:e]),
                    embeddings=[v.tolist() for v in vectors[s:e]],
                )

    def delete_document(self, doc_id: str) -> None:
        """Remove exactly the chunks of one document."""
        self._call(lambda: self._collection.delete(where={"doc_id": doc_id}))

    def count(self, doc_id: str | None = None) -> int:
        """Number of chunks (of one document, or all)."""
        if doc_id is None:
            return self._call(self._collection.count)
        return len(self._call(lambda: self._collection.get(where={"doc_id": doc_id}, include=[]))["ids"])

    def search(self, query_vector: np.ndarray, k: int, exclude_docs: Sequence[str] = ()) -> list[VectorHit]:
        """Nearest k chunks by cosine similarity, skipping documents in exclude_docs."""
        if k <= 0:
            return []
        where = _exclude_where(exclude_docs)
        # No count() first: Chroma returns fewer than k (or none) by itself, and counting a large collection
        # cost as much as the query (12 ms of 22 at 100k chunks, bench/retrieval.py --profile).
        res = self._call(lambda: self._collection.query(
            query_embeddings=[query_vector.tolist()],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        ))
        ids, docs, metas, dists = res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
        rows = zip(ids, docs, metas, dists, strict=True)
        return [VectorHit(i, d or "", dict(m or {}), 1.0 - float(dist)) for i, d, m, dist in rows]

    def similarities(self, chunk_ids: Sequence[str], query_vector: np.ndarray) -> dict[str, float]:
        """Cosine similarity of each stored chunk to the query; ids not in the store are left out.

        Only the vectors are read: asking Chroma for vectors, texts and metadata together took four times as long
        as for vectors alone, and the texts are needed only for the few chunks that make the answer.
        """
        if not chunk_ids:
            return {}
        res = self._call(lambda: self._collection.get(ids=list(chunk_ids), include=["embeddings"]))
        if not res["ids"]:
            return {}
        vectors = np.asarray(res["embeddings"], dtype=np.float32).reshape(len(res["ids"]), -1)
        return dict(zip(res["ids"], (vectors @ query_vector).tolist(), strict=True))

    def get(self, chunk_ids: Sequence[str], query_vector: np.ndarray | None = None) -> list[VectorHit]:
        """Fetch chunks by id; with a query vector, also their cosine similarity to it."""
        if not chunk_ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if query_vector is not None else [])
        res = self._call(lambda: self._collection.get(ids=list(chunk_ids), include=include))
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


def unreachable(url: str, exc: BaseException | str | None = None) -> VectorStoreUnavailableError:
    """The typed error for a Chroma server that does not answer."""
    why = f" ({exc})" if exc is not None and str(exc) else ""
    return VectorStoreUnavailableError(
        f"The Chroma server at {url} cannot be reached{why}.",
        "Start it (e.g. `chroma run --path DIR --host HOST --port PORT`) or correct chroma_url (ANALYST_CHROMA_URL); "
        "leave it empty to use the embedded store in the data directory.",
    )


def server_collection_name(directory: Path) -> str:
    """This library's collection on a Chroma server: created once, kept in `directory`, shared by its processes."""
    path = Path(directory) / SERVER_COLLECTION_FILE
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(f"{COLLECTION}-{uuid.uuid4().hex[:20]}\n", encoding="utf-8")
        try:
            os.link(tmp, path)  # atomic and never overwrites: a process that raced us keeps its name
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def server_problem(url: str, timeout: float) -> VectorStoreUnavailableError | None:
    """None if the Chroma server at `url` answers its heartbeat within `timeout` seconds, else the typed error."""
    try:
        response = httpx.get(url + HEARTBEAT, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return unreachable(url, exc if str(exc) else type(exc).__name__)
    return None


def probe_server(url: str, timeout: float = 2.0) -> str:
    """'' if the Chroma server at `url` answers its heartbeat, else why not (for status)."""
    problem = server_problem(url, timeout)
    return "" if problem is None else str(problem)
