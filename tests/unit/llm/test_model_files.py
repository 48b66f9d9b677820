"""Assembling packaged models from part packages: order, checksum, marker, missing parts."""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import pytest

from app.errors import ModelFileError, ModelNotFoundError
from app.llm import model_files
from app.llm.model_files import PackagedModel, ensure_model_file, is_installed, source_files


@pytest.fixture()
def fake_packages(tmp_path, monkeypatch):
    """Make part packages in a temp dir on the import path; returns a builder of a PackagedModel over them."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def build(parts: list[bytes], sha256: str | None = None, missing: int | None = None) -> PackagedModel:
        prefix = f"fakemodel_{uuid.uuid4().hex[:8]}_part"  # unique: import caches never see a stale package
        modules = []
        for number, content in enumerate(parts, start=1):
            module = f"{prefix}{number}"
            modules.append(module)
            if number == missing:
                continue
            data = site / module / "data"
            data.mkdir(parents=True)
            (site / module / "__init__.py").write_text("")
            (data / f"part{number:02d}.bin").write_bytes(content)
        whole = b"".join(parts)
        spec = PackagedModel(
            key="fake-model",
            display_name="Fake Model Q4",
            file_name="fake-model.gguf",
            size=len(whole),
            sha256=sha256 or hashlib.sha256(whole).hexdigest(),
            part_modules=tuple(modules),
            install_hint="pip install fake-model-part1..3==1.0",
        )
        monkeypatch.setitem(model_files.CATALOG, "fake-model", spec)
        return spec

    return build


PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def test_parts_are_joined_in_order_and_marked_verified(fake_packages, tmp_path):
    spec = fake_packages(PARTS)
    reports: list[tuple[float, str]] = []
    path = ensure_model_file("fake-model", tmp_path / "models", lambda f, m: reports.append((f, m)))

    assert path == tmp_path / "models" / "fake-model.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    marker = json.loads(path.with_suffix(".verified.json").read_text())
    assert marker["sha256"] == spec.sha256 and marker["size"] == path.stat().st_size
    assert reports[-1][0] == 1.0 and "ready" in reports[-1][1]
    assert not path.with_suffix(".partial").exists()
    assert [p.name for p in source_files(spec)] == ["part01.bin", "part02.bin", "part03.bin"]
    assert is_installed("fake-model")


def test_a_verified_file_is_not_assembled_again(fake_packages, tmp_path):
    fake_packages(PARTS)
    path = ensure_model_file("fake-model", tmp_path / "models")
    first_mtime = path.stat().st_mtime_ns
    reports: list[float] = []
    assert ensure_model_file("fake-model", tmp_path / "models", lambda f, m: reports.append(f)) == path
    assert reports == []  # trusted by its marker: no work, no progress
    assert path.stat().st_mtime_ns == first_mtime


def test_a_changed_file_without_a_valid_marker_is_rebuilt(fake_packages, tmp_path):
    fake_packages(PARTS)
    models = tmp_path / "models"
    path = ensure_model_file("fake-model", models)
    path.write_bytes(b"GGUF" + b"x" * (path.stat().st_size - 4))
    os.utime(path, (1_000_000, 1_000_000))  # same size, other mtime: the marker no longer vouches for it
    assert ensure_model_file("fake-model", models).read_bytes() == b"".join(PARTS)


def test_wrong_checksum_raises_and_leaves_no_file(fake_packages, tmp_path):
    fake_packages(PARTS, sha256="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(ModelFileError) as caught:
        ensure_model_file("fake-model", models)
    assert "checksum" in caught.value.message
    assert "pip install fake-model" in caught.value.hint
    assert list(models.iterdir()) == []  # no partial, no target, no marker


def test_damaged_part_size_raises_model_file_error(fake_packages, tmp_path):
    spec = fake_packages(PARTS)
    (source_files(spec)[1]).write_bytes(b"short")
    with pytest.raises(ModelFileError, match="bytes"):
        ensure_model_file("fake-model", tmp_path / "models")
    assert not (tmp_path / "models" / "fake-model.gguf").exists()


def test_missing_part_package_names_the_pip_command(fake_packages, tmp_path):
    spec = fake_packages(PARTS, missing=2)
    with pytest.raises(ModelNotFoundError) as caught:
        ensure_model_file("fake-model", tmp_path / "models")
    assert spec.part_modules[1].replace("_", "-") in caught.value.message
    assert "pip install" in caught.value.hint
    assert not is_installed("fake-model")
    assert not (tmp_path / "models" / "fake-model.gguf").exists()


def test_unknown_model_key_lists_the_choices(tmp_path):
    with pytest.raises(ModelNotFoundError) as caught:
        ensure_model_file("gpt-5", tmp_path)
    assert "qwen2.5-coder-0.5b" in caught.value.hint


def test_real_catalog_packages_are_installed():
    assert is_installed("qwen2.5-coder-1.5b")
    assert is_installed("qwen2.5-coder-0.5b")
    for key in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        spec = model_files.CATALOG[key]
        assert sum(p.stat().st_size for p in source_files(spec)) == spec.size


def test_verify_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    assert model_files.verify_file(path, hashlib.sha256(b"hello").hexdigest())
    assert not model_files.verify_file(path, "0" * 64)
