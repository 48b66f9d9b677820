"""What a file that is not an image is called when it is given as one (issue 17, finding 10)."""

from __future__ import annotations

import pytest

from multimodal.image import ImageFormatError, prepare_image
from tests.fixtures.media import SPEECH_WAV


def test_text_named_png_is_called_a_text_file() -> None:
    with pytest.raises(ImageFormatError, match=r"chart\.png is a text file, not an image \(whatever its name says\)"):
        prepare_image(b"name,amount\nann,1\nbo,2\n", "chart.png")


def test_a_recording_named_png_is_called_a_recording() -> None:
    with pytest.raises(ImageFormatError, match=r"voice\.png is a recording, not an image") as err:
        prepare_image(SPEECH_WAV.read_bytes(), "voice.png")
    assert "transcribe" in err.value.one_line()


def test_empty_and_random_bytes_still_get_their_own_messages() -> None:
    with pytest.raises(ImageFormatError, match=r"blank\.png is empty"):
        prepare_image(b"", "blank.png")
    with pytest.raises(ImageFormatError, match=r"noise\.png is not a supported image: its content matches none") as err:
        prepare_image(bytes(range(256)) * 8, "noise.png")
    assert "damaged" in err.value.hint
