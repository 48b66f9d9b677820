"""One settings object for the whole app.

Precedence, highest first: explicit overrides (CLI flags) > environment variables
(`ANALYST_*`, plus `OLLAMA_HOST`) > the user's saved settings file
(`<data_dir>/settings.json`, written by the Settings page) > defaults.
Nothing else in the code base reads `os.environ` for configuration.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError

ENV_PREFIX = "ANALYST_"
SETTINGS_FILE = "settings.json"
Backend = Literal["auto", "ollama", "embedded", "openai"]
EmbeddedModelKey = Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"]


def _default_threads() -> int:
    # Half the cores: on a busy 2-core laptop, 2 generation threads collapse to a
    # fraction of their speed while 1 stays steady (measured, see MODELS.md).
    return max(1, (os.cpu_count() or 2) // 2)


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _default_keys_dir() -> Path:
    # The audit keys live apart from the data: $XDG_CONFIG_HOME/analyst-assistant/keys (~/.config/... by default).
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "analyst-assistant" / "keys"


DEFAULT_SYSTEM_PROMPT = (
    "You are Analyst Assistant, a careful assistant for data and business analysts. "
    "Answer concisely and accurately. If you do not know, say so plainly instead of guessing."
)


class Settings(BaseSettings):
    """Every setting of Analyst Assistant, with where it comes from."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_assignment=True)

    data_dir: Path = Field(
        default=Path.home() / ".analyst-assistant",
        description="Folder holding all persistent state: conversations, request records, models, indexes.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where packaged models are assembled; empty means <data_dir>/models. Share it between data dirs.",
    )
    backend: Backend = Field(
        default="auto",
        description="Chat backend: 'ollama', 'embedded' (llama.cpp in-process), 'openai' (an OpenAI-compatible "
        "server: vLLM, llama-server, `python -m app model-server`), or 'auto' (the OpenAI-compatible server when "
        "openai_base_url is set, else Ollama when reachable with a chat model, else embedded).",
    )
    ollama_host: str = Field(
        default="http://127.0.0.1:11434",
        validation_alias=AliasChoices("ANALYST_OLLAMA_HOST", "OLLAMA_HOST", "ollama_host"),
        description="Base URL of the Ollama server (OLLAMA_HOST is honoured too).",
    )
    ollama_model: str = Field(
        default="",
        description="Ollama model to use (e.g. 'qwen2.5:7b'); empty picks the first chat model pulled.",
    )
    ollama_num_ctx: int = Field(
        default=8192,
        ge=512,
        le=262144,
        description="Context window requested from Ollama (num_ctx); capped at the model's own maximum.",
    )
    ollama_timeout: float = Field(default=300.0, gt=0, description="Seconds to wait for Ollama before giving up.")
    # OpenAI-compatible model server (app/llm/openai_compat.py). The key comes from the environment only.
    openai_base_url: str = Field(
        default="",
        description="Base URL of an OpenAI-compatible server, e.g. http://gpu-box:8000/v1; empty: not used.",
    )
    openai_model: str = Field(
        default="", description="Model served there (as /v1/models lists it); empty picks the first one listed."
    )
    openai_api_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("ANALYST_OPENAI_API_KEY", "OPENAI_API_KEY"),
        exclude=True,
        description="API key of the server, from ANALYST_OPENAI_API_KEY or OPENAI_API_KEY only; never saved.",
    )
    openai_context_window: int = Field(
        default=8192, ge=512, le=1_048_576,
        description="Context window (tokens) assumed when the server does not report one.",
    )
    openai_timeout: float = Field(default=300.0, gt=0, description="Seconds to wait for the model server.")
    openai_supports_images: bool = Field(
        default=False, description="The served model takes images (when the server does not say so itself)."
    )

    @field_validator("openai_base_url")
    @classmethod
    def _normalise_openai_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("the OpenAI-compatible server URL must start with http:// or https://")
        return value

    embedded_model: EmbeddedModelKey = Field(
        default="qwen2.5-coder-1.5b",
        description="Packaged model for the embedded backend.",
    )
    embedded_threads: int = Field(
        default_factory=_default_threads,
        ge=1,
        le=64,
        description="CPU threads for the embedded model.",
    )
    embedded_batch_threads: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="CPU threads for reading the prompt (a short burst; all cores nearly halve the wait).",
    )
    embedded_ctx: int = Field(
        default=8192,
        ge=512,
        le=32768,
        description="Context window (tokens) of the embedded model; more costs memory.",
    )
    temperature: float = Field(default=0.2, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float = Field(default=0.9, gt=0.0, le=1.0, description="Nucleus sampling threshold.")
    max_tokens: int = Field(default=1024, ge=16, le=16384, description="Maximum tokens in one answer.")
    seed: int | None = Field(default=None, description="Fixed sampling seed for repeatable answers; empty = random.")
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, description="Instructions given to the model first.")
    whisper_model: Literal["base", "tiny.en"] = Field(
        default="base", description="Speech model: 'base' (multilingual, more accurate) or 'tiny.en' (English, faster)."
    )
    whisper_threads: int = Field(default=1, ge=1, le=64, description="CPU threads for transcription.")
    max_audio_seconds: float = Field(
        default=14_400, gt=0, description="Longest recording accepted for transcription, in seconds."
    )
    image_max_side: int = Field(
        default=1344, ge=256, le=8192, description="Images are scaled down to this many pixels on the long side."
    )
    user: str = Field(default_factory=_default_user, description="Identity written into request records.")
    # Sign-in, roles and workspaces (app/access/). Set by the environment (ANALYST_AUTH=...), never saved from a page.
    auth: Literal["none", "password", "oidc", "proxy"] = Field(
        default="none",
        description="Sign-in: 'none' (the laptop default; only on a loopback address), 'password' (local accounts "
        "in the data directory), 'oidc' (the company's identity provider via Streamlit's st.login) or 'proxy' "
        "(a trusted reverse proxy names the user in a header).",
    )
    allow_anonymous: bool = Field(
        default=False,
        description="Serve without sign-in on a non-loopback address anyway (shown in the sidebar, recorded).",
    )
    admins: list[str] = Field(
        default_factory=list,
        description="Names or e-mails made admin when they first sign in (oidc and proxy modes).",
    )
    default_role: Literal["admin", "analyst", "viewer", "auditor"] = Field(
        default="analyst", description="Role of a user created on first sign-in (oidc and proxy modes)."
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="Hours a sign-in lasts before the user signs in again."
    )
    proxy_user_header: str = Field(
        default="X-Forwarded-User", description="Header the trusted reverse proxy puts the user's name in."
    )
    proxy_trusted_addresses: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses of the reverse proxies whose user header is believed (proxy mode).",
    )
    # 12,000 characters is about 4,000 tokens: half the embedded model's 8,192-token context (the rest holds
    # the evidence, history and answer), and about a minute of prompt reading for the 1.5B on a 2-core laptop
    # (~60 tok/s). A 20,000-character message took 260 s to its first token there.
    max_prompt_chars: int = Field(
        default=12_000,
        ge=1000,
        description="Longest message accepted, in characters (12,000 ≈ 4,000 tokens, about a minute of reading "
        "for the embedded 1.5B on a 2-core laptop); longer text should be attached as a PDF.",
    )

    tool_mode: Literal["auto", "router", "native"] = Field(
        default="auto",
        description="How a question picks its tools (documents, SQL, image, transcript): 'router' (rules over the "
        "question and attachments), 'native' (the model's own tool calling), or 'auto' (native where the model "
        "advertises tool calling, else router).",
    )
    doc_answerability: bool = Field(
        default=True,
        description="Before answering from documents, check that the passages found mention what the question asks "
        "about (else say 'not in your documents'), and retry a refusal once from the passage that matches best.",
    )
    trace_numbers: bool = Field(
        default=True,
        description="Look for every number of an answer in its SQL results and cited passages; mark the ones not "
        "found ('not found in the sources') and count them in the request record.",
    )
    pii_policy: Literal["off", "detect", "redact_remote", "redact_always"] = Field(
        default="redact_remote",
        description="Personal data (emails, phones, cards, IBANs, national ids, IPs): 'detect' only flags it, "
        "'redact_remote' also masks it before it is sent to a non-local Ollama server, 'redact_always' masks it "
        "for every model.",
    )
    injection_policy: Literal["flag", "block"] = Field(
        default="flag",
        description="Prompt injection in a question: 'flag' answers and marks the turn, 'block' refuses it. "
        "Injection found in documents, OCR text or transcripts is always quoted as data and flagged.",
    )
    audit_retention_days: int = Field(
        default=0,
        ge=0,
        description="Delete request records older than this many days (0 keeps them forever); the pruning "
        "itself is recorded and the chain stays verifiable.",
    )

    # Audit keys and personal data in the records (storage/keys.py, app/audit/privacy.py).
    keys_dir: Path = Field(
        default_factory=_default_keys_dir,
        description="Folder of the audit trail's secret keys (chain key, personal-data key) and head anchors; "
        "created owner-only (700/600) on first start. Must lie outside the data directory; back it up.",
    )
    record_personal_data: Literal["mask", "mask_and_encrypt"] = Field(
        default="mask",
        description="Personal data in request records: 'mask' stores its type and a keyed fingerprint only "
        "([EMAIL:3f2a9c1b]); 'mask_and_encrypt' also keeps the raw values encrypted under the personal-data key.",
    )

    @field_validator("keys_dir")
    @classmethod
    def _expand_keys_dir(cls, value: Path) -> Path:
        return Path(value).expanduser().resolve()

    @model_validator(mode="after")
    def _keys_outside_data(self) -> Settings:
        if self.keys_dir == self.data_dir or self.data_dir in self.keys_dir.parents:
            raise ValueError(f"keys_dir ({self.keys_dir}) must lie outside the data directory ({self.data_dir})")
        return self

    # Tables and SQL (limits of the query connection and of loading; see storage/tables.py).
    sql_memory_limit: str = Field(
        default="1GB",
        pattern=r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$",
        description="Most memory one SQL query (and one table load) may use, e.g. '1GB' or '512MB'; a query "
        "needing more stops with a message instead of filling the machine's memory.",
    )
    sql_threads: int = Field(default=2, ge=1, le=64, description="CPU threads DuckDB may use for one query or load.")
    max_table_rows: int = Field(
        default=20_000_000,
        ge=1,
        description="Most rows one loaded table may have (Excel sheets stop at Excel's own 1,048,576); a larger "
        "file is refused with a message instead of filling the disk.",
    )
    tables_lock_wait_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Seconds a command waits for another process to finish loading tables before giving up.",
    )
    # Question -> SQL techniques (app/tables/; measured by bench/sql_eval.py --techniques on the dev and held-out sets).
    sql_join_hints: bool = Field(
        default=True,
        description="Give the model the database's join keys (declared, or found from column names and values), "
        "pull in bridging tables, and repair binder errors with the table that really has the column.",
    )
    sql_checks: bool = Field(
        default=True,
        description="Check the generated SQL and its result against the question (no LIMIT that cuts 'per ...' "
        "groups, requested rounding, order and units) and repair once when a check fails.",
    )
    sql_candidates: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Queries generated per question: 1 is the greedy query only; more adds sampled queries, runs "
        "them all and keeps the result most of them agree on (slower: each candidate is one more model call).",
    )
    sql_examples: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Verified question-SQL pairs of the same database (marked correct by an analyst) shown to "
        "the model as examples, most similar first; 0 shows none.",
    )

    # Vectors on a Chroma server (storage/chroma_index.py); empty keeps the embedded store in the data directory.
    chroma_url: str = Field(
        default="",
        description="URL of a Chroma server holding the document vectors (e.g. http://chroma.intranet:8000); "
        "empty uses the embedded store in the data directory. Each document library gets its own collection.",
    )

    @field_validator("chroma_url")
    @classmethod
    def _check_chroma_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            return ""
        parts = urlsplit(value if "://" in value else "http://" + value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("the Chroma URL must start with http:// or https://")
        if not parts.hostname or parts.username or parts.password or parts.path or parts.query or parts.fragment:
            raise ValueError("the Chroma URL must be http(s)://HOST:PORT, without a path, user or password")
        try:
            # Without a port: Chroma's own default (8000) over http, 443 over https (a TLS proxy in front of it).
            port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 8000)
        except ValueError as exc:
            raise ValueError("the Chroma URL's port must be a number from 1 to 65535") from exc
        if not 0 < port < 65536:
            raise ValueError("the Chroma URL's port must be a number from 1 to 65535")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{parts.scheme}://{host}:{port}"

    # Background jobs (app/jobs) and sharing the model between concurrent turns.
    jobs_url: str = Field(
        default="",
        description="Redis URL of the job queue (redis://HOST:6379/0) so worker processes on other machines that "
        "share the data directory run jobs (`python -m app worker`); empty keeps the queue in the data directory.",
    )
    job_uploads_kept_days: float = Field(
        default=7.0,
        ge=0,
        le=3650,
        description="Days the files uploaded for a failed job are kept for Retry before they are removed (a "
        "cancelled job's files are removed when it stops).",
    )
    max_parallel_requests: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Most model calls served at once; the rest wait their turn (round-robin across users, first "
        "come, first served within one user). "
        "0 = automatic: 1 for the embedded model, 4 for Ollama and OpenAI-compatible servers.",
    )

    @field_validator("jobs_url")
    @classmethod
    def _check_jobs_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("the job queue URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("ollama_host")
    @classmethod
    def _normalise_host(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            raise ValueError("the Ollama host must not be empty")
        if "://" not in value:
            value = "http://" + value
        if not value.startswith(("http://", "https://")):
            raise ValueError("the Ollama host must start with http:// or https://")
        return value

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return Path(value).expanduser().resolve()

    @property
    def resolved_models_dir(self) -> Path:
        """Folder holding assembled model files."""
        return Path(self.models_dir).expanduser().resolve() if self.models_dir else self.data_dir / "models"


# Sign-in settings come from the environment only: a page or a settings.json edit must never switch sign-in off.
ACCESS_FIELDS = ("auth", "allow_anonymous", "admins", "default_role", "session_hours", "proxy_user_header",
                 "proxy_trusted_addresses")
# Fields a user may change from the Settings page (data_dir is chosen at start-up).
EDITABLE_FIELDS = tuple(
    name for name in Settings.model_fields if name not in ("data_dir", "models_dir", "keys_dir", "openai_api_key")
    and name not in ACCESS_FIELDS
)


def env_locked_fields() -> set[str]:
    """Names of settings fixed by environment variables (the UI shows them read-only)."""
    locked = {name for name in Settings.model_fields if f"{ENV_PREFIX}{name.upper()}" in os.environ}
    if "OLLAMA_HOST" in os.environ:
        locked.add("ollama_host")
    return locked


def _read_saved(data_dir: Path) -> dict[str, Any]:
    path = data_dir / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"Saved settings at {path} cannot be read ({exc}).",
            "Fix or delete that file; the defaults will be used.",
        ) from exc
    if not isinstance(saved, dict):
        raise ConfigError(f"Saved settings at {path} are not a JSON object.", "Delete that file.")
    return {k: v for k, v in saved.items() if k in EDITABLE_FIELDS}


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides, environment, the saved settings file and defaults."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        from_env = Settings(**overrides)
        saved = _read_saved(from_env.data_dir)
        explicit = {name: getattr(from_env, name) for name in from_env.model_fields_set}
        return Settings(**{**saved, **explicit})
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc), "Correct the value and try again.") from exc


def validate_changes(current: Settings, changes: dict[str, Any]) -> Settings:
    """Return settings with `changes` applied, or raise ConfigError naming the bad field."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    try:
        return Settings(**{**current.model_dump(), **changes})
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc), "Correct the value and save again.") from exc


def save_settings(settings: Settings, changes: dict[str, Any]) -> Settings:
    """Validate and persist user changes to `<data_dir>/settings.json` atomically."""
    updated = validate_changes(settings, changes)
    path = settings.data_dir / SETTINGS_FILE
    saved = _read_saved(settings.data_dir) if path.exists() else {}
    saved.update(json.loads(updated.model_dump_json(include=set(changes))))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(saved, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return updated


def _describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "value"
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    return "Invalid setting — " + "; ".join(parts)
