"""The Settings page: a form built from the Settings model, validated on save; a test of the Ollama connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.llm.model_files import CATALOG
from app.settings import Settings, env_locked_fields
from app.ui.common import safe_markdown, show_error


def _help(name: str) -> str:
    return Settings.model_fields[name].description or ""


def _seconds(column: Any, label: str, lo: float, hi: float, value: float, step: float, extra: dict[str, Any]) -> float:
    """A seconds setting: whole values as whole numbers ("300", not Streamlit's default "300.00"); a value with
    a fraction (set in the file or the environment) keeps it, with two decimals."""
    lo, hi = min(lo, value), max(hi, value)  # a value set outside the form's range must not break the page
    if float(value).is_integer():
        return column.number_input(label, int(lo), int(hi), int(value), int(step), format="%d", **extra)
    return column.number_input(label, float(lo), float(hi), float(value), float(step), format="%.2f", **extra)


def _choice(column: Any, label: str, options: list[str], current: str, extra: dict[str, Any]) -> str:
    return column.selectbox(label, options, index=options.index(current), **extra)


Options = Callable[[str], dict[str, Any]]


def settings_page(services: Services) -> None:
    """The whole Settings page: the form, and a test of the Ollama connection."""
    st.title("Settings")
    st.caption("Saved to the data directory; environment variables (ANALYST_*) take precedence and lock a field.")
    changes = settings_form(services)
    if changes is not None:
        apply(services, changes)
    with st.expander("Ollama connection"):
        if st.button("Test connection", key="settings.test"):
            connection_test(services)


def connection_test(services: Services) -> None:
    """Probe the Ollama server now and say what was found (or what to do)."""
    status = services.router.ollama_status(refresh=True)
    if status.reachable:
        st.success(f"Reachable at `{status.host}`. Models: " + safe_markdown(", ".join(status.models) or "none pulled"))
    else:
        show_error(AssistantError(status.error, status.hint))


def settings_form(services: Services) -> dict[str, Any] | None:
    """Render the form; returns the changed values when the user saves."""
    s = services.settings
    locked = env_locked_fields()

    def opts(name: str) -> dict[str, Any]:
        note = " (fixed by an environment variable)" if name in locked else ""
        return {"help": _help(name) + note, "disabled": name in locked, "key": f"settings.{name}"}

    with st.form("settings.form"):
        values = _backend_fields(s, opts)
        seed = _generation_fields(s, opts, values)
        values.update(_speech_fields(s, opts))
        values.update(_tool_fields(s, opts))
        st.subheader("Instructions")
        values["system_prompt"] = st.text_area("System prompt", s.system_prompt, height=100, **opts("system_prompt"))
        st.text_input("Data directory (set with ANALYST_DATA_DIR or --data-dir)", str(s.data_dir), disabled=True)
        submitted = st.form_submit_button("Save settings", type="primary")
    if not submitted:
        return None
    values["seed"] = int(seed) if seed.strip().lstrip("-").isdigit() else (None if not seed.strip() else seed)
    return {k: v for k, v in values.items() if k not in locked and v != getattr(s, k)}


def _backend_fields(s: Settings, opts: Options) -> dict[str, Any]:
    st.subheader("Model backend")
    backends = ["auto", "ollama", "embedded", "openai"]
    values: dict[str, Any] = {
        "backend": st.radio(
            "Backend", backends, index=backends.index(s.backend), horizontal=True, **opts("backend")
        )
    }
    col1, col2 = st.columns(2)
    values["ollama_host"] = col1.text_input("Ollama host", s.ollama_host, **opts("ollama_host"))
    values["ollama_model"] = col2.text_input("Ollama model (empty = first chat model)", s.ollama_model,
                                             **opts("ollama_model"))
    values["ollama_num_ctx"] = col1.number_input("Ollama context (num_ctx)", 512, 262144, s.ollama_num_ctx, 512,
                                                 **opts("ollama_num_ctx"))
    values["ollama_timeout"] = _seconds(col2, "Ollama timeout (s)", 1, 3600, s.ollama_timeout, 1,
                                        opts("ollama_timeout"))
    values["openai_base_url"] = col1.text_input("OpenAI-compatible server URL (empty = not used)",
                                                s.openai_base_url, **opts("openai_base_url"))
    values["openai_model"] = col2.text_input("Server model (empty = first listed)", s.openai_model,
                                             **opts("openai_model"))
    # Test-only models are offered only when already chosen (e.g. by ANALYST_EMBEDDED_MODEL).
    keys = [k for k, spec in CATALOG.items() if spec.user_facing or k == s.embedded_model]
    values["embedded_model"] = col1.selectbox("Embedded model", keys, index=keys.index(s.embedded_model),
                                              format_func=lambda k: CATALOG[k].display_name,
                                              **opts("embedded_model"))
    values["embedded_threads"] = col2.number_input("Embedded threads", 1, 64, s.embedded_threads,
                                                   **opts("embedded_threads"))
    values["embedded_batch_threads"] = col2.number_input("Embedded prompt threads", 1, 64,
                                                         s.embedded_batch_threads,
                                                         **opts("embedded_batch_threads"))
    values["embedded_ctx"] = col1.number_input("Embedded context (tokens)", 512, 32768, s.embedded_ctx, 512,
                                               **opts("embedded_ctx"))
    return values


def _generation_fields(s: Settings, opts: Options, values: dict[str, Any]) -> str:
    """Temperature, top p and answer length into `values`; returns the seed as typed (parsed on save)."""
    st.subheader("Generation")
    col1, col2, col3 = st.columns(3)
    values["temperature"] = col1.slider("Temperature", 0.0, 2.0, float(s.temperature), 0.05,
                                        **opts("temperature"))
    values["top_p"] = col2.slider("Top p", 0.05, 1.0, float(s.top_p), 0.05, **opts("top_p"))
    values["max_tokens"] = col3.number_input("Max answer tokens", 16, 16384, s.max_tokens, **opts("max_tokens"))
    seed: str = col1.text_input("Seed (empty = random)", "" if s.seed is None else str(s.seed), **opts("seed"))
    return seed


def _speech_fields(s: Settings, opts: Options) -> dict[str, Any]:
    st.subheader("Speech and images")
    col1, col2, col3 = st.columns(3)
    sizes = ["base", "tiny.en"]
    return {
        "whisper_model": col1.selectbox("Speech model", sizes, index=sizes.index(s.whisper_model),
                                        **opts("whisper_model")),
        "whisper_threads": col2.number_input("Speech threads", 1, 64, s.whisper_threads, **opts("whisper_threads")),
        "max_audio_seconds": _seconds(col3, "Longest recording (s)", 1, 86400, s.max_audio_seconds, 60,
                                      opts("max_audio_seconds")),
        "image_max_side": col1.number_input("Image size for vision models (px)", 256, 8192, s.image_max_side, 64,
                                            **opts("image_max_side")),
    }


def _tool_fields(s: Settings, opts: Options) -> dict[str, Any]:
    st.subheader("Tools, guardrails and audit")
    col1, col2, col3 = st.columns(3)
    return {
        "tool_mode": _choice(col1, "How tools are picked", ["auto", "router", "native"], s.tool_mode,
                             opts("tool_mode")),
        "pii_policy": _choice(col2, "Personal data", ["off", "detect", "redact_remote", "redact_always"],
                              s.pii_policy, opts("pii_policy")),
        "injection_policy": _choice(col3, "Prompt injection in questions", ["flag", "block"], s.injection_policy,
                                    opts("injection_policy")),
        "user": col1.text_input("Identity in request records", s.user, **opts("user")),
        "audit_retention_days": col2.number_input("Keep request records (days, 0 = forever)", 0, 36500,
                                                  s.audit_retention_days, **opts("audit_retention_days")),
    }


def apply(services: Services, changes: dict[str, Any]) -> None:
    """Save changes and report the outcome."""
    if not changes:
        st.info("Nothing changed.")
        return
    try:
        services.apply_settings(changes)
    except AssistantError as exc:
        show_error(exc)
        return
    st.success("Saved: " + ", ".join(sorted(changes)))
