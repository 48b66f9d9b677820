"""Text in images: OCR with the PP-OCR models packaged inside the `rapidocr` wheel.

The engine is built once per process, lazily, from model files given by explicit path,
so rapidocr never resolves (and never downloads) a model by name.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.errors import BadInputError, ModelFileError

# Model files shipped in rapidocr==3.10.0 (rapidocr/models/).
_DET_MODEL = "PP-OCRv6_det_small.onnx"
_CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"

# rapidocr's detector rescales internally; images larger than this gain nothing but time.
_MAX_OCR_SIDE = 2000


class OcrModelError(ModelFileError):
    """The packaged OCR models are missing or cannot be loaded."""


@dataclass(frozen=True)
class OcrLine:
    """One line of recognised text; `box` is four [x, y] points in image pixels, clockwise from top-left."""

    text: str
    box: list[list[float]]
    score: float


@dataclass(frozen=True)
class OcrResult:
    """All text found in one image, lines in reading order."""

    text: str
    lines: list[OcrLine] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: {"text", "lines": [{"text", "box", "score"}]}."""
        return {
            "text": self.text,
            "lines": [{"text": ln.text, "box": ln.box, "score": ln.score} for ln in self.lines],
        }


_engine: Any = None
_engine_lock = threading.Lock()
# The rapidocr object mutates its own parameters on each call; serialise calls. On a
# 2-core machine running OCR in parallel would not be faster anyway.
_run_lock = threading.Lock()


def _default_threads() -> int:
    # One onnxruntime thread per half of the cores: whisper, the chat model and other
    # users share this machine, and oversubscribed threads collapse throughput.
    return max(1, (os.cpu_count() or 2) // 2)


def _models_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


def _build_engine(threads: int) -> Any:
    try:
        from rapidocr import RapidOCR
        from rapidocr.utils import download_file
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise OcrModelError(
            "The OCR engine is not installed.", "Install it with `pip install rapidocr==3.10.0 onnxruntime`."
        ) from exc

    models = _models_dir()
    paths = {name: models / name for name in (_DET_MODEL, _CLS_MODEL, _REC_MODEL)}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise OcrModelError(
            f"Packaged OCR model file(s) missing: {', '.join(missing)}.",
            "Reinstall the OCR engine with `pip install --force-reinstall rapidocr==3.10.0`.",
        )
    params = {
        "Global.log_level": "error",
        "Global.model_root_dir": str(models),
        "Det.model_path": str(paths[_DET_MODEL]),
        "Cls.model_path": str(paths[_CLS_MODEL]),
        "Rec.model_path": str(paths[_REC_MODEL]),
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }

    def _refuse_download(*_args: Any, **_kwargs: Any) -> None:
        raise OcrModelError(
            "The OCR engine tried to download a model file; this app runs offline.",
            "Reinstall `rapidocr==3.10.0`, whose wheel contains the models.",
        )

    # Belt and braces: with explicit model paths rapidocr should never download, but if a
    # future version tried, fail at once with a clear message instead of a 60 s timeout.
    original = download_file.DownloadFile.run
    download_file.DownloadFile.run = _refuse_download  # type: ignore[method-assign]
    try:
        engine = RapidOCR(params=params)
        # rapidocr loads its three sessions on first use; load them now, under the guard.
        for loader in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
            if hasattr(engine, loader):
                getattr(engine, loader)()
    except OcrModelError:
        raise
    except Exception as exc:
        raise OcrModelError(
            f"The OCR models could not be loaded ({exc}).",
            "Reinstall with `pip install --force-reinstall rapidocr==3.10.0 onnxruntime`.",
        ) from exc
    finally:
        download_file.DownloadFile.run = original  # type: ignore[method-assign]
    return engine


def get_engine(threads: int | None = None) -> Any:
    """The process-wide rapidocr engine, built on first use (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _build_engine(threads or _default_threads())
    return _engine


def _to_bgr(image: Image.Image) -> np.ndarray:
    if image.mode not in ("RGB", "L"):
        # Flatten transparency onto white: dark text on transparent backgrounds is common
        # in screenshots and would otherwise vanish onto black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _reading_rows(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Group lines into rows of vertically overlapping boxes, top-to-bottom, each left-to-right."""

    def top(ln: OcrLine) -> float:
        return min(p[1] for p in ln.box)

    def bottom(ln: OcrLine) -> float:
        return max(p[1] for p in ln.box)

    def left(ln: OcrLine) -> float:
        return min(p[0] for p in ln.box)

    rows: list[list[OcrLine]] = []
    row_bottom = -1.0
    for ln in sorted(lines, key=top):
        centre = (top(ln) + bottom(ln)) / 2
        # A line whose vertical centre lies above the current row's bottom edge shares it.
        if rows and centre < row_bottom:
            rows[-1].append(ln)
            row_bottom = max(row_bottom, bottom(ln))
        else:
            rows.append([ln])
            row_bottom = bottom(ln)
    return [sorted(row, key=left) for row in rows]


def ocr_image(image: Image.Image) -> OcrResult:
    """Read the text in an image; lines come top-to-bottom, left-to-right, with boxes and scores."""
    if not isinstance(image, Image.Image):
        raise BadInputError("OCR needs an image.", "Pass a decoded PIL image.")
    width, height = image.size
    if width < 2 or height < 2:
        return OcrResult(text="", lines=[])
    scale = 1.0
    if max(width, height) > _MAX_OCR_SIDE:
        scale = max(width, height) / _MAX_OCR_SIDE
        image = image.resize((max(1, round(width / scale)), max(1, round(height / scale))), Image.Resampling.LANCZOS)
    array = _to_bgr(image)
    engine = get_engine()
    with _run_lock:
        out = engine(array)
    boxes = getattr(out, "boxes", None)
    texts = getattr(out, "txts", None)
    scores = getattr(out, "scores", None)
    if boxes is None or texts is None or len(texts) == 0:
        return OcrResult(text="", lines=[])
    lines = []
    for box, text, score in zip(boxes, texts, scores or [1.0] * len(texts), strict=False):
        text = str(text).strip()
        if not text:
            continue
        points = [[round(float(x) * scale, 1), round(float(y) * scale, 1)] for x, y in np.asarray(box)[:4]]
        lines.append(OcrLine(text=text, box=points, score=round(float(score), 4)))
    rows = _reading_rows(lines)
    # Side-by-side boxes on one row read as one line of text (table cells, label: value).
    text = "\n".join(" ".join(ln.text for ln in row) for row in rows)
    return OcrResult(text=text, lines=[ln for row in rows for ln in row])
