"""The Images & audio page: read the text in an image; transcribe an upload or a recording with timestamps."""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st
from PIL import Image, ImageDraw

from app.container import Services
from app.errors import AssistantError
from app.ui.common import safe_markdown, show_error
from app.ui.jobs import act, start_background_jobs
from multimodal.audio import open_audio
from multimodal.image import PreparedImage, prepare_image
from multimodal.kinds import AUDIO_TYPES, IMAGE_TYPES
from multimodal.transcribe import format_timestamp

KEY_TRANSCRIPTS = "media.transcripts"  # sha256 of the audio -> transcript dict (plain data)
KEY_JOBS = "media.jobs"  # sha256 of the audio -> id of the background job transcribing it
# Longer recordings (or ones whose length the container does not say) are transcribed as a background job, which
# goes on when the page is left; a voice note is quicker to transcribe right here.
IN_PAGE_MAX_S = 120.0


@st.cache_data(max_entries=32, show_spinner="Reading the image…")
def _prepare(data: bytes, name: str) -> PreparedImage:
    # Cached by content: reruns and re-uploads of the same image never run OCR again.
    return prepare_image(data, name)


def _boxed(prepared: PreparedImage) -> Image.Image:
    image = prepared.to_pil()
    draw = ImageDraw.Draw(image)
    for line in prepared.ocr.lines if prepared.ocr else []:
        draw.polygon([tuple(p) for p in line.box], outline=(230, 30, 30), width=2)
    return image


def media_page(services: Services) -> None:
    """The whole Images & audio page."""
    st.title("Images & audio")
    image_tab, audio_tab = st.tabs(["Image", "Audio"])
    with image_tab:
        image_panel()
    with audio_tab:
        audio_panel(services)


def image_panel() -> None:
    """An uploaded image with its text regions outlined, the text read (OCR) and the lines with their scores."""
    upload = st.file_uploader("Image (screenshot, chart, scan, photo)", type=IMAGE_TYPES, key="media.image")
    if upload is None:
        return
    try:
        prepared = _prepare(upload.getvalue(), upload.name)
    except AssistantError as exc:
        show_error(exc)
        return
    for warning in prepared.warnings:
        st.info(safe_markdown(warning))
    left, right = st.columns(2)
    left.image(_boxed(prepared), caption=f"{upload.name} — text regions outlined")
    right.caption(safe_markdown(prepared.facts.describe()))
    right.text_area("Text found (OCR)", prepared.ocr.text if prepared.ocr else "", height=300,
                    key="media.ocr_text")
    with st.expander("Lines with boxes and scores"):
        st.dataframe([ln.__dict__ for ln in prepared.ocr.lines] if prepared.ocr else [])


def audio_panel(services: Services) -> None:
    """An uploaded or recorded clip, transcribed on request (once per clip, model and language), then shown."""
    transcriber = services.transcriber
    upload = st.file_uploader("Recording", type=AUDIO_TYPES, key="media.audio")
    recorded = st.audio_input("…or record a voice note", key="media.record")
    source = recorded or upload
    cols = st.columns(3)
    size = cols[0].selectbox("Whisper model", transcriber.sizes, key="media.size")
    language = cols[1].text_input("Language (empty = detect)", key="media.language", max_chars=8)
    if source is None:
        return
    data = source.getvalue()
    digest = hashlib.sha256(data).hexdigest() + size + language
    done: dict[str, dict[str, Any]] = st.session_state.setdefault(KEY_TRANSCRIPTS, {})
    jobs: dict[str, str] = st.session_state.setdefault(KEY_JOBS, {})
    name = getattr(source, "name", "recording")
    if digest not in done and digest not in jobs and cols[2].button("Transcribe", type="primary", key="media.go"):
        seconds = _duration(data, name)
        if seconds is None or seconds > IN_PAGE_MAX_S:
            _submit(services, jobs, digest, name, data, size, language)
        elif (transcript := _transcribe(services, data, name, size, language)) is not None:
            done[digest] = transcript
    if digest not in done and digest in jobs:
        _transcription_job(services, digest)
    if digest in done:
        _show_transcript(data, done[digest])


def _duration(data: bytes, name: str) -> float | None:
    """The recording's length from its container, None when it does not say (or cannot be read here)."""
    try:
        with open_audio(data, name) as stream:
            return stream.info.duration
    except AssistantError:
        return None  # the transcription itself reports what is wrong with the file


def _submit(services: Services, jobs: dict[str, str], digest: str, name: str, data: bytes, size: str,
            language: str) -> None:
    try:
        job = services.jobs.submit_recording(name, data, size, language)
    except AssistantError as exc:
        show_error(exc)
        return
    jobs[digest] = job.id
    start_background_jobs(services)


@st.fragment(run_every=1.5)
def _transcription_job(services: Services, digest: str) -> None:
    """A long recording's transcription running in the background: progress and Cancel, then the transcript."""
    job_id = st.session_state.get(KEY_JOBS, {}).get(digest)
    if job_id is None:
        return
    job = services.jobs.get(job_id)
    if not job.finished:
        st.progress(job.progress, text=safe_markdown(f"Transcribing in the background (it goes on if you leave "
                                                     f"this page): {job.message}"))
        if not job.cancel_requested:
            st.button("Cancel", key="media.job_cancel", on_click=act, args=(services.jobs.cancel, job.id))
        return
    if job.state == "done":
        st.session_state[KEY_TRANSCRIPTS][digest] = job.result
        st.rerun()  # the whole page: the transcript and its player
    show_error(AssistantError(job.error or f"The transcription was {job.state}."))
    st.button("Transcribe again", key="media.job_retry", on_click=act,
              args=(services.jobs.retry, job.id))  # the recording was kept for this


def _transcribe(services: Services, data: bytes, name: str, size: str, language: str) -> dict[str, Any] | None:
    """Transcribe with a progress bar and a Cancel button; the transcript as plain data, None on an error."""
    # Pressing Cancel reruns the page, which stops this run at the next progress update. It sits in a
    # placeholder so it can be removed once there is nothing left to cancel.
    cancel = st.empty()
    cancel.button("Cancel", key="media.cancel")
    bar = st.progress(0.0, text="Transcribing…")

    def report(seconds: float, total: float | None) -> None:
        fraction = seconds / total if total else 0.0
        bar.progress(min(fraction, 1.0), text=f"Transcribed {format_timestamp(seconds)}"
                     + (f" of {format_timestamp(total)}" if total else ""))

    transcript: dict[str, Any] | None = None
    try:
        result = services.transcribe(data, name=name, origin="images & audio page", size=size,
                                     language=language or None, progress=report)
        transcript = {**result.to_dict(), "warnings": result.warnings}
    except AssistantError as exc:
        show_error(exc)
    bar.empty()
    cancel.empty()
    return transcript


def _show_transcript(data: bytes, transcript: dict[str, Any]) -> None:
    """The transcript's segments: pick one to play the clip from there; download it as text."""
    for warning in transcript["warnings"]:
        st.info(safe_markdown(warning))
    st.caption(f"Language: {transcript['language']} · {format_timestamp(transcript['duration'])}")
    starts = {f"{format_timestamp(s['start'])}  {s['text']}": s["start"] for s in transcript["segments"]}
    choice = st.radio("Segments (pick one to play from there)", list(starts), format_func=safe_markdown,
                      key="media.segment")
    st.audio(data, start_time=int(starts.get(choice, 0)))
    st.download_button("Download transcript (.txt)", "\n".join(starts), file_name="transcript.txt")
