"""Image preprocessing: formats, orientation, modes, size limits, metadata stripping, facts."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from multimodal.image import (
    ImageDamagedError,
    ImageFormatError,
    ImageTooLargeError,
    ocr_image_bytes,
    prepare_image,
)
from multimodal.kinds import sniff_image
from tests.fixtures.media import render_text


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _prep(data: bytes, name: str = "x", **kwargs):
    return prepare_image(data, name, run_ocr=False, **kwargs)


def _decoded(prepared) -> Image.Image:
    return Image.open(io.BytesIO(prepared.data))


def test_exif_orientation_is_applied_and_metadata_stripped():
    image = Image.new("RGB", (400, 200), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS
    data = _encode(image, "JPEG", exif=exif, comment=b"internal note")
    prepared = _prep(data, "photo.jpg")
    out = _decoded(prepared)
    assert (prepared.width, prepared.height) == (200, 400) == out.size
    assert (prepared.facts.original_width, prepared.facts.original_height) == (200, 400)
    assert prepared.mime == "image/jpeg" and out.format == "JPEG"
    assert not out.getexif() and "comment" not in out.info and "icc_profile" not in out.info
    assert b"SecretCam" not in prepared.data and b"internal note" not in prepared.data
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()


def test_png_text_chunks_are_stripped():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Analyst")
    prepared = _prep(_encode(Image.new("RGB", (50, 50), "blue"), "PNG", pnginfo=info))
    assert prepared.mime == "image/png" and b"Jane Analyst" not in prepared.data


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("CMYK", "JPEG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("I;16", "PNG"), ("L", "BMP"),
     ("RGB", "WEBP"), ("RGB", "TIFF"), ("1", "PNG")],
)
def test_modes_and_formats_become_rgb(mode, fmt):
    base = Image.new("RGB", (120, 80), (200, 30, 30))
    if mode == "I;16":
        image = Image.fromarray(np.tile(np.arange(120, dtype=np.uint16) * 500, (80, 1)))
    elif mode == "P":
        image = base.convert("P", palette=Image.Palette.ADAPTIVE)
        image.info["transparency"] = 0
    else:
        image = base.convert(mode)
    prepared = _prep(_encode(image, fmt), f"x.{fmt.lower()}")
    assert _decoded(prepared).mode == "RGB"
    assert prepared.facts.format == fmt


def test_transparent_areas_become_white():
    image = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 30, 60))
    out = _decoded(_prep(_encode(image, "PNG"))).convert("RGB")
    assert out.getpixel((50, 30)) == (255, 255, 255) and out.getpixel((5, 30)) == (0, 0, 255)


def test_large_images_are_downscaled_to_the_max_side():
    prepared = _prep(_encode(Image.new("RGB", (4000, 1000), "white"), "PNG"), max_side=1344)
    assert (prepared.width, prepared.height) == (1344, 336)
    assert (prepared.facts.original_width, prepared.facts.original_height) == (4000, 1000)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 100))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="2,500 megapixels") as info:
        _prep(_png_header_only(50_000, 50_000), "bomb.png")
    assert "megapixels" in info.value.message and info.value.hint
    with pytest.raises(ImageTooLargeError):
        _prep(_png_header_only(40_000, 10), "strip.png")  # absurd side, few pixels


def test_animated_gif_uses_the_first_frame_and_says_so():
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    prepared = _prep(data, "anim.gif")
    assert prepared.facts.frames == 3
    assert any("first frame" in w for w in prepared.warnings)
    r, g, b = _decoded(prepared).convert("RGB").getpixel((20, 20))
    assert r > 200 and g < 50 and b < 50


def test_heic_and_unsupported_formats_name_what_is_supported():
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 100
    assert sniff_image(heic) == "HEIC"
    with pytest.raises(ImageFormatError, match="HEIC") as info:
        _prep(heic, "IMG_0001.HEIC")
    assert "JPEG or PNG" in info.value.hint
    with pytest.raises(ImageFormatError, match="a text file, not an image") as info:
        _prep(b"just some text, renamed to .png\n" * 10, "fake.png")
    assert "PNG, JPEG" in info.value.hint
    with pytest.raises(ImageFormatError, match="PDF"):
        _prep(b"%PDF-1.7\n%...", "doc.png")
    with pytest.raises(ImageFormatError, match="empty"):
        _prep(b"", "none.png")


def test_corrupt_jpeg_is_a_clear_error():
    data = _encode(Image.effect_noise((300, 300), 60).convert("RGB"), "JPEG")
    with pytest.raises(ImageDamagedError, match="damaged or incomplete"):
        _prep(data[: len(data) // 2], "cut.jpg")
    with pytest.raises(ImageDamagedError, match="damaged"):
        _prep(data[:20] + b"\x00" * 50, "garbage.jpg")


def test_facts_describe_size_colours_and_text_regions():
    image = render_text([((20, 20), "Sales by month")], size=(600, 300))
    image.paste((31, 119, 180), (0, 200, 600, 300))
    prepared = prepare_image(_encode(image, "PNG"), "chart.png")
    facts = prepared.facts
    assert (facts.width, facts.height) == (600, 300)
    names = [c.name for c in facts.colours]
    assert names[0] == "white" and "steel blue" in names
    assert facts.text_regions == 1 and 0 < facts.text_coverage < 0.2
    described = facts.describe()
    assert "600×300" in described and "1 text region" in described
    assert prepared.ocr is not None and prepared.ocr.text == "Sales by month"


def test_ocr_boxes_are_in_original_pixels_for_the_cli():
    image = render_text([((100, 400), "Total 1,234.50")], size=(3000, 1000), font_size=60)
    result = ocr_image_bytes(_encode(image, "PNG"), "big.png")
    assert result.text == "Total 1,234.50"
    xs = [p[0] for p in result.lines[0].box]
    assert min(xs) == pytest.approx(100, abs=25)  # a box scaled wrongly (by 2000/3000) would start near 60
