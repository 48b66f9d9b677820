"""Image preprocessing with Pillow: sniff, orient, normalise to RGB, downscale, strip metadata, describe.

Everything that leaves this module is re-encoded pixels only (no EXIF, GPS, ICC or comments), so
what reaches a model or the audit trail carries no hidden metadata from the user's file.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import BadInputError
from multimodal.kinds import HEAD_BYTES, SUPPORTED_IMAGES, content_kind, looks_like_text, sniff_image
from multimodal.ocr import OcrLine, OcrResult, ocr_image

# Pillow decoders we allow; anything else (EPS runs Ghostscript, PSD, ...) is refused.
_PIL_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")
DEFAULT_MAX_SIDE = 1344  # what common vision models take without tiling further
DEFAULT_MAX_PIXELS = 60_000_000  # a 200 MP phone photo is refused; 50 MP cameras pass
MAX_DIMENSION = 30_000
OCR_MAX_SIDE = 2000  # more resolution than the model gets: small print needs it

_BASIC_COLOURS = {
    "white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "light grey": (200, 200, 200),
    "dark grey": (64, 64, 64), "red": (220, 40, 40), "orange": (255, 140, 0), "yellow": (240, 220, 40),
    "green": (40, 160, 60), "dark green": (20, 90, 40), "blue": (40, 90, 220), "light blue": (140, 190, 240),
    "navy": (20, 30, 90), "purple": (130, 60, 170), "pink": (240, 130, 180), "brown": (130, 80, 40),
    "teal": (20, 140, 140), "beige": (230, 215, 180), "steel blue": (60, 120, 180),
}


class ImageFormatError(BadInputError):
    """The file is not an image format we accept (HEIC, text, unknown)."""


class ImageTooLargeError(BadInputError):
    """The image's dimensions are absurd or would exhaust memory (a decompression bomb)."""


class ImageDamagedError(BadInputError):
    """The image file is truncated or corrupt."""


@dataclass(frozen=True)
class ColourShare:
    """One dominant colour: hex, nearest plain name and share of the image (0-1)."""

    hex: str
    name: str
    share: float


@dataclass(frozen=True)
class ImageFacts:
    """What a text-only model can be told about an image."""

    format: str
    width: int
    height: int
    original_width: int
    original_height: int
    colours: list[ColourShare]
    text_regions: int
    text_coverage: float  # share of the image area covered by text boxes
    frames: int = 1
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One compact paragraph, e.g. for a prompt or a caption."""
        colours = ", ".join(f"{c.name} {c.hex} ({c.share:.0%})" for c in self.colours) or "unknown"
        parts = [
            f"{self.format} image, {self.original_width}×{self.original_height} px"
            + (f" (shown at {self.width}×{self.height})" if (self.width, self.height) != (
                self.original_width, self.original_height) else ""),
            f"dominant colours: {colours}",
            f"{self.text_regions} text region(s) covering {self.text_coverage:.0%} of the area",
        ]
        return "; ".join(parts) + "." + ("".join(f" {n}" for n in self.notes))


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for a model: clean re-encoded bytes, size, facts, OCR and the upload's sha256."""

    data: bytes
    mime: str
    width: int
    height: int
    facts: ImageFacts
    ocr: OcrResult | None
    sha256: str
    warnings: list[str] = field(default_factory=list)

    def to_pil(self) -> Image.Image:
        """Decode the prepared bytes (RGB) — for drawing OCR boxes in the UI."""
        return Image.open(io.BytesIO(self.data)).convert("RGB")


def _refuse_format(kind: str | None, name: str, head: bytes = b"") -> ImageFormatError:
    if kind is None and content_kind(head) == "audio":
        return ImageFormatError(f"{name} is a recording, not an image (whatever its name says).",
                                "Add it to the Documents page, or use `transcribe`, to turn its speech into text.")
    if kind is None and looks_like_text(head):
        return ImageFormatError(f"{name} is a text file, not an image (whatever its name says).",
                                f"Supported images: {SUPPORTED_IMAGES}. A table goes to the Tables page.")
    if kind == "HEIC":
        return ImageFormatError(
            f"{name} is a HEIC/HEIF photo, which cannot be read here.",
            f"Export it as JPEG or PNG (on an iPhone: Settings › Camera › Formats › Most Compatible). "
            f"Supported: {SUPPORTED_IMAGES}.",
        )
    if kind == "PDF":
        return ImageFormatError(f"{name} is a PDF, not an image.", "Add it as a document instead.")
    return ImageFormatError(f"{name} is not a supported image: its content matches none of the supported formats.",
                            f"Supported formats: {SUPPORTED_IMAGES}. If it is one of them, the file is damaged: "
                            "export it again.")


def _open(data: bytes, name: str, max_pixels: int) -> tuple[Image.Image, str]:
    kind = sniff_image(data[:32])
    if kind not in _PIL_FORMATS:
        raise _refuse_format(kind, name, data[:HEAD_BYTES])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Image.open reads only the header: the size check below happens before any pixel is decoded.
            image = Image.open(io.BytesIO(data), formats=[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses before we see the size; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(name, None, max_pixels, int(found.group(1)) if found else None) from exc
    except UnidentifiedImageError as exc:
        raise ImageDamagedError(
            f"{name} looks like a {kind} file but cannot be read; it is probably damaged.",
            "Open it in an image viewer and export it again.",
        ) from exc
    width, height = image.size
    if width < 1 or height < 1 or width > MAX_DIMENSION or height > MAX_DIMENSION or width * height > max_pixels:
        raise _too_large(name, (width, height), max_pixels)
    return image, kind


def _too_large(
    name: str, size: tuple[int, int] | None, max_pixels: int, pixels: int | None = None
) -> ImageTooLargeError:
    dims = f" ({size[0]:,}×{size[1]:,} px)" if size else (f" ({pixels / 1e6:,.0f} megapixels)" if pixels else "")
    return ImageTooLargeError(
        f"{name} is too large to process{dims}: the limit is {max_pixels / 1e6:.0f} megapixels and "
        f"{MAX_DIMENSION:,} px a side.",
        "Resize or crop it (a screenshot of the relevant part works best) and upload again.",
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode -> RGB; transparency is flattened onto white, 16-bit and float scaled to 8-bit."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(scaled.astype("uint8"), "L").convert("RGB")
    if mode == "P" or mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        # Pillow's CMYK->RGB ignores ICC profiles; good enough to read and describe the image.
        return image.convert("RGB")
    return image.convert("RGB")


def _dominant_colours(image: Image.Image, count: int = 5) -> list[ColourShare]:
    small = image.copy()
    small.thumbnail((96, 96))
    quant = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quant.getpalette() or []
    total = small.width * small.height
    # Near-identical shades (anti-aliasing) share a name: report each name once, with the largest hex.
    by_name: dict[str, ColourShare] = {}
    for n, index in sorted(quant.getcolors() or [], reverse=True):
        if not isinstance(index, int):
            continue  # a palette image's colours are palette indexes; never a tuple here
        r, g, b = palette[index * 3 : index * 3 + 3]
        name = _colour_name((r, g, b))
        prev = by_name.get(name)
        share = n / total + (prev.share if prev else 0.0)
        by_name[name] = ColourShare(hex=prev.hex if prev else f"#{r:02x}{g:02x}{b:02x}", name=name, share=share)
    shares = [ColourShare(c.hex, c.name, round(c.share, 3)) for c in by_name.values()]
    return sorted((c for c in shares if c.share >= 0.02), key=lambda c: -c.share)


def _colour_name(rgb: tuple[int, int, int]) -> str:
    return min(_BASIC_COLOURS, key=lambda k: sum((a - b) ** 2 for a, b in zip(_BASIC_COLOURS[k], rgb, strict=True)))


def _scale_ocr(result: OcrResult, factor: float) -> OcrResult:
    if factor == 1.0:
        return result
    lines = [
        OcrLine(text=ln.text, box=[[round(x * factor, 1), round(y * factor, 1)] for x, y in ln.box], score=ln.score)
        for ln in result.lines
    ]
    return OcrResult(text=result.text, lines=lines)


def _text_coverage(lines: list[OcrLine], width: int, height: int) -> float:
    area = 0.0
    for ln in lines:
        xs, ys = [p[0] for p in ln.box], [p[1] for p in ln.box]
        area += max(0.0, max(xs) - min(xs)) * max(0.0, max(ys) - min(ys))
    return round(min(1.0, area / max(1, width * height)), 3)


def load_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, dict]:
    """Decode, orient and convert to RGB; returns the image and notes (format, frames, original size)."""
    image, kind = _open(data, name, max_pixels)
    info: dict[str, Any] = {"format": kind, "original_size": image.size, "frames": 1, "warnings": []}
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        info["frames"] = frames
        info["warnings"].append(f"{name} is animated ({frames} frames); only the first frame is used.")
        image.seek(0)
    if kind == "JPEG":
        # Let the JPEG decoder scale down by 1/2..1/8 while decoding: far less memory for big photos.
        image.draft("RGB", (OCR_MAX_SIDE, OCR_MAX_SIDE))
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
        rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDamagedError(
            f"{name} is damaged or incomplete and cannot be decoded ({exc}).",
            "Open it in an image viewer and export it again, or upload the original file.",
        ) from exc
    return rgb, info


def prepare_image(
    data: bytes,
    name: str = "image",
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    run_ocr: bool = True,
) -> PreparedImage:
    """Turn uploaded bytes into a clean PreparedImage; raises ImageFormatError/TooLargeError/DamagedError."""
    if not data:
        raise ImageFormatError(f"{name} is empty.", f"Upload an image ({SUPPORTED_IMAGES}).")
    digest = hashlib.sha256(data).hexdigest()
    rgb, info = load_image(data, name, max_pixels)
    orig_w, orig_h = info["original_size"]
    if rgb.size != (orig_w, orig_h):  # rotated by EXIF, or JPEG draft-scaled: report the oriented size
        orig_w, orig_h = _oriented_size(info["original_size"], rgb.size)

    ocr: OcrResult | None = None
    ocr_scale = 1.0
    if run_ocr:
        ocr_input = rgb
        if max(rgb.size) > OCR_MAX_SIDE:
            ocr_input = ImageOps.contain(rgb, (OCR_MAX_SIDE, OCR_MAX_SIDE), Image.Resampling.LANCZOS)
        ocr = ocr_image(ocr_input)
        ocr_scale = ocr_input.width / rgb.width
    model_image = rgb
    if max(rgb.size) > max_side:
        model_image = ImageOps.contain(rgb, (max_side, max_side), Image.Resampling.LANCZOS)
    if ocr is not None:
        ocr = _scale_ocr(ocr, model_image.width / (rgb.width * ocr_scale))
    encoded, mime = _encode_clean(model_image, info["format"])
    lines = ocr.lines if ocr else []
    notes = list(info["warnings"])
    facts = ImageFacts(
        format=info["format"],
        width=model_image.width,
        height=model_image.height,
        original_width=orig_w,
        original_height=orig_h,
        colours=_dominant_colours(model_image),
        text_regions=len(lines),
        text_coverage=_text_coverage(lines, model_image.width, model_image.height),
        frames=info["frames"],
        notes=notes,
    )
    return PreparedImage(
        data=encoded, mime=mime, width=model_image.width, height=model_image.height,
        facts=facts, ocr=ocr, sha256=digest, warnings=notes,
    )


def _encode_clean(image: Image.Image, source_format: str) -> tuple[bytes, str]:
    """The pixels re-encoded without any metadata: lossless PNG for screenshots, charts and scans (sharp
    text), JPEG for photos; with the MIME type."""
    # Pillow carries EXIF, ICC and comments along in `info` and writes them back on save; drop them all.
    image = image.copy()
    image.info.clear()
    buf = io.BytesIO()
    if source_format in ("JPEG", "WEBP", "AVIF"):
        image.save(buf, format="JPEG", quality=90, optimize=True)
        return buf.getvalue(), "image/jpeg"
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue(), "image/png"


def _oriented_size(original: tuple[int, int], now: tuple[int, int]) -> tuple[int, int]:
    """The original size in the displayed orientation (swapped when EXIF rotated it by 90°)."""
    w, h = original
    rotated = (now[0] > now[1]) != (w > h) and w != h
    return (h, w) if rotated else (w, h)


def ocr_image_bytes(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> OcrResult:
    """OCR an uploaded image; boxes are in the pixels of the (EXIF-oriented) original."""
    if not data:
        raise ImageFormatError(f"{name} is empty.", f"Upload an image ({SUPPORTED_IMAGES}).")
    rgb, info = load_image(data, name, max_pixels)
    original = _oriented_size(info["original_size"], rgb.size)
    return _scale_ocr(ocr_image(rgb), original[0] / rgb.width)
