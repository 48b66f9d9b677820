"""Images & audio: read the text in an image; transcribe an upload or a recording with timestamps."""

from __future__ import annotations

import hashlib

import streamlit as st
from PIL import ImageDraw

from app.errors import AssistantError
from app.ui.common import get_services, show_error
from multimodal.image import PreparedImage, prepare_image
from multimodal.transcribe import format_timestamp

KEY_TRANSCRIPTS = "media.transcripts"  # sha256 of the audio -> transcript dict (plain data)
IMAGE_TYPES = ["png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "avif", "heic"]
AUDIO_TYPES = ["wav", "mp3", "m4a", "ogg", "oga", "opus", "flac", "webm", "mp4"]


@st.cache_data(max_entries=32, show_spinner="Reading the image…")
def _prepare(data: bytes, name: str) -> PreparedImage:
    # Cached by content: reruns and re-uploads of the same image never run OCR again.
    return prepare_image(data, name)


def _boxed(prepared: PreparedImage):
    image = prepared.to_pil()
    draw = ImageDraw.Draw(image)
    for line in prepared.ocr.lines if prepared.ocr else []:
        draw.polygon([tuple(p) for p in line.box], outline=(230, 30, 30), width=2)
    return image


st.title("Images & audio")
services = get_services()
image_tab, audio_tab = st.tabs(["Image", "Audio"])

with image_tab:
    upload = st.file_uploader("Image (screenshot, chart, scan, photo)", type=IMAGE_TYPES, key="media.image")
    if upload is not None:
        try:
            prepared = _prepare(upload.getvalue(), upload.name)
        except AssistantError as exc:
            show_error(exc)
        else:
            for warning in prepared.warnings:
                st.info(warning)
            left, right = st.columns(2)
            left.image(_boxed(prepared), caption=f"{upload.name} — text regions outlined")
            right.caption(prepared.facts.describe())
            right.text_area("Text found (OCR)", prepared.ocr.text if prepared.ocr else "", height=300,
                            key="media.ocr_text")
            with st.expander("Lines with boxes and scores"):
                st.dataframe([ln.__dict__ for ln in prepared.ocr.lines] if prepared.ocr else [])

with audio_tab:
    transcriber = services.transcriber
    upload = st.file_uploader("Recording", type=AUDIO_TYPES, key="media.audio")
    recorded = st.audio_input("…or record a voice note", key="media.record")
    source = recorded or upload
    cols = st.columns(3)
    size = cols[0].selectbox("Whisper model", transcriber.sizes, key="media.size")
    language = cols[1].text_input("Language (empty = detect)", key="media.language", max_chars=8)
    if source is not None:
        data = source.getvalue()
        digest = hashlib.sha256(data).hexdigest() + size + language
        done = st.session_state.setdefault(KEY_TRANSCRIPTS, {})
        if digest not in done and cols[2].button("Transcribe", type="primary", key="media.go"):
            # Pressing Cancel reruns the page, which stops this run at the next progress update. It sits in a
            # placeholder so it can be removed once there is nothing left to cancel.
            cancel = st.empty()
            cancel.button("Cancel", key="media.cancel")
            bar = st.progress(0.0, text="Transcribing…")

            def report(seconds: float, total: float | None) -> None:
                fraction = seconds / total if total else 0.0
                bar.progress(min(fraction, 1.0), text=f"Transcribed {format_timestamp(seconds)}"
                             + (f" of {format_timestamp(total)}" if total else ""))

            try:
                result = transcriber.transcribe(data, name=getattr(source, "name", "recording"), size=size,
                                                language=language or None, progress=report)
                done[digest] = {**result.to_dict(), "warnings": result.warnings}
            except AssistantError as exc:
                show_error(exc)
            bar.empty()
            cancel.empty()
        if digest in done:
            transcript = done[digest]
            for warning in transcript["warnings"]:
                st.info(warning)
            st.caption(f"Language: {transcript['language']} · {format_timestamp(transcript['duration'])}")
            starts = {f"{format_timestamp(s['start'])}  {s['text']}": s["start"] for s in transcript["segments"]}
            choice = st.radio("Segments (pick one to play from there)", list(starts), key="media.segment")
            st.audio(data, start_time=int(starts.get(choice, 0)))
            st.download_button("Download transcript (.txt)", "\n".join(starts), file_name="transcript.txt")
