"""Settings: precedence, validation, env-locked fields, the saved file."""

from __future__ import annotations

import json

import pytest

from app.errors import ConfigError
from app.settings import (
    SETTINGS_FILE,
    Settings,
    env_locked_fields,
    load_settings,
    save_settings,
    validate_changes,
)


def _write_saved(data_dir, values: dict) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / SETTINGS_FILE).write_text(json.dumps(values), encoding="utf-8")


def test_defaults_without_env_or_file(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    assert settings.data_dir == tmp_path.resolve()
    assert settings.backend == "auto"
    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert settings.embedded_model == "qwen2.5-coder-1.5b"
    assert settings.resolved_models_dir == tmp_path.resolve() / "models"
    assert settings.embedded_threads >= 1


def test_every_field_has_a_description():
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_precedence_overrides_then_env_then_file_then_defaults(tmp_path, monkeypatch):
    _write_saved(tmp_path, {"backend": "ollama", "temperature": 0.7, "max_tokens": 100, "top_p": 0.5})
    monkeypatch.setenv("ANALYST_TEMPERATURE", "1.1")
    monkeypatch.setenv("ANALYST_MAX_TOKENS", "200")

    settings = load_settings(data_dir=tmp_path, max_tokens=300)

    assert settings.max_tokens == 300  # override beats env and file
    assert settings.temperature == 1.1  # env beats file
    assert settings.backend == "ollama"  # file beats default
    assert settings.top_p == 0.5
    assert settings.seed is None  # default


def test_none_overrides_are_ignored(tmp_path):
    _write_saved(tmp_path, {"backend": "embedded"})
    assert load_settings(data_dir=tmp_path, backend=None).backend == "embedded"


def test_data_dir_comes_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYST_DATA_DIR", str(tmp_path / "from-env"))
    _write_saved(tmp_path / "from-env", {"max_tokens": 77})
    settings = load_settings()
    assert settings.data_dir == (tmp_path / "from-env").resolve()
    assert settings.max_tokens == 77


def test_saved_file_cannot_move_data_dir(tmp_path):
    _write_saved(tmp_path, {"data_dir": str(tmp_path / "elsewhere"), "models_dir": "/nope", "unknown": 1})
    settings = load_settings(data_dir=tmp_path)
    assert settings.data_dir == tmp_path.resolve()
    assert settings.models_dir is None


def test_ollama_host_env_is_honoured_and_normalised(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434/")
    settings = load_settings(data_dir=tmp_path)
    assert settings.ollama_host == "http://gpu-box:11434"
    assert "ollama_host" in env_locked_fields()


def test_analyst_ollama_host_beats_ollama_host(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://a:1")
    monkeypatch.setenv("ANALYST_OLLAMA_HOST", "http://b:2")
    assert load_settings(data_dir=tmp_path).ollama_host == "http://b:2"


def test_ollama_host_env_beats_saved_file(tmp_path, monkeypatch):
    _write_saved(tmp_path, {"ollama_host": "http://saved:1"})
    assert load_settings(data_dir=tmp_path).ollama_host == "http://saved:1"
    monkeypatch.setenv("OLLAMA_HOST", "http://env:2")
    assert load_settings(data_dir=tmp_path).ollama_host == "http://env:2"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 5),
        ("max_tokens", 3),
        ("backend", "gpt"),
        ("ollama_host", "ftp://x"),
        ("ollama_host", "   "),
        ("embedded_model", "llama-70b"),
        ("embedded_threads", 0),
        ("ollama_num_ctx", 100),
    ],
)
def test_invalid_value_raises_config_error_naming_the_field(tmp_path, field, value):
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path, **{field: value})
    assert field in caught.value.message
    assert caught.value.hint


def test_invalid_env_value_raises_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYST_MAX_TOKENS", "lots")
    with pytest.raises(ConfigError, match="max_tokens"):
        load_settings(data_dir=tmp_path)


def test_invalid_value_in_saved_file_raises_config_error(tmp_path):
    _write_saved(tmp_path, {"temperature": "hot"})
    with pytest.raises(ConfigError, match="temperature"):
        load_settings(data_dir=tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_corrupt_settings_file_raises_config_error(tmp_path, content):
    (tmp_path / SETTINGS_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path)
    assert str(tmp_path / SETTINGS_FILE) in caught.value.message
    assert caught.value.hint


def test_env_locked_fields(monkeypatch):
    assert env_locked_fields() == set()
    monkeypatch.setenv("ANALYST_BACKEND", "embedded")
    monkeypatch.setenv("ANALYST_MAX_TOKENS", "64")
    monkeypatch.setenv("UNRELATED", "1")
    assert env_locked_fields() == {"backend", "max_tokens"}


def test_validate_changes_names_the_bad_field_and_rejects_unknown(settings_factory):
    settings = settings_factory()
    with pytest.raises(ConfigError, match="top_p"):
        validate_changes(settings, {"top_p": 0})
    with pytest.raises(ConfigError, match="data_dir"):
        validate_changes(settings, {"data_dir": "/tmp/x"})
    with pytest.raises(ConfigError, match="colour"):
        validate_changes(settings, {"colour": "red"})
    assert validate_changes(settings, {"top_p": 0.5}).top_p == 0.5
    assert settings.top_p == 0.9  # the original is untouched


def test_save_round_trips_and_keeps_earlier_changes(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    updated = save_settings(settings, {"temperature": 0.9, "ollama_host": "box:11434"})
    assert updated.temperature == 0.9
    assert updated.ollama_host == "http://box:11434"
    save_settings(updated, {"max_tokens": 256})

    saved = json.loads((tmp_path / SETTINGS_FILE).read_text(encoding="utf-8"))
    assert saved == {"temperature": 0.9, "ollama_host": "http://box:11434", "max_tokens": 256}
    reloaded = load_settings(data_dir=tmp_path)
    assert (reloaded.temperature, reloaded.ollama_host, reloaded.max_tokens) == (0.9, "http://box:11434", 256)


def test_save_is_atomic_and_an_invalid_change_writes_nothing(tmp_path, monkeypatch):
    settings = load_settings(data_dir=tmp_path)
    save_settings(settings, {"temperature": 0.5})
    before = (tmp_path / SETTINGS_FILE).read_bytes()

    with pytest.raises(ConfigError, match="temperature"):
        save_settings(settings, {"temperature": 9})
    assert (tmp_path / SETTINGS_FILE).read_bytes() == before

    # A crash while writing the temp file leaves the saved file as it was.
    import app.settings as settings_module

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(settings_module.os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_settings(settings, {"temperature": 0.6})
    assert (tmp_path / SETTINGS_FILE).read_bytes() == before
    assert load_settings(data_dir=tmp_path).temperature == 0.5


def test_models_dir_setting(tmp_path):
    settings = load_settings(data_dir=tmp_path / "d", models_dir=tmp_path / "shared-models")
    assert settings.resolved_models_dir == (tmp_path / "shared-models").resolve()


def test_services_apply_settings_persists_and_reaches_the_router(settings_factory):
    from app.container import build_services

    services = build_services(settings_factory(max_tokens=100))
    updated = services.apply_settings({"max_tokens": 300, "ollama_host": "http://127.0.0.1:9"})
    assert updated.max_tokens == 300
    assert services.settings is updated and services.router.settings is updated
    assert services.assistant.settings.max_tokens == 300
    assert services.router.ollama_status().host == "http://127.0.0.1:9"
    saved = json.loads((services.settings.data_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    assert saved == {"max_tokens": 300, "ollama_host": "http://127.0.0.1:9"}
    with pytest.raises(ConfigError, match="max_tokens"):
        services.apply_settings({"max_tokens": 1})
    assert services.settings.max_tokens == 300


def test_build_services_on_an_unusable_data_dir_is_a_config_error(settings_factory, tmp_path):
    from app.container import build_services

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as caught:
        build_services(settings_factory(data_dir=blocker / "data"))
    assert str(blocker) in caught.value.message
    assert "ANALYST_DATA_DIR" in caught.value.hint


def test_changing_the_speech_model_rebuilds_the_transcriber(settings_factory):
    from app.container import build_services

    services = build_services(settings_factory())
    before = services.transcriber
    assert before.size == "base"
    services.apply_settings({"whisper_model": "tiny.en"})
    assert services.transcriber is not before and services.transcriber.size == "tiny.en"
    kept = services.transcriber
    services.apply_settings({"max_tokens": 300})
    assert services.transcriber is kept  # unrelated changes keep the built service
