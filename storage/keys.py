"""The secret keys of the audit trail and the head anchors, kept OUTSIDE the data directory.

`<keys_dir>/chain.key` keys the record chain (HMAC-SHA256): whoever can only write the data directory cannot
recompute a valid chain. `<keys_dir>/pii.key` keys the fingerprints of masked personal data ("[EMAIL:3f2a9c1b]",
the same value gives the same fingerprint, so records can be linked without holding the value) and the encryption
of raw values when the opt-in policy keeps them. Both are 32 random bytes, created on first start with mode 600 in
a folder of mode 700 (an existing folder or key readable by others is narrowed to that).

`<keys_dir>/anchors/<name>.json` holds the head of one data directory's chain (record count, last hash, time),
rewritten after every append under a lock, so a cut tail, an emptied or a deleted `records.sqlite` is detected.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from app.errors import ConfigError

_KEY_BYTES = 32
_CACHE: dict[Path, RecordKeys] = {}
_CACHE_LOCK = threading.Lock()


def _owner_only(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o777 != mode:
        os.chmod(path, mode)


def _read(path: Path) -> bytes:
    _owner_only(path, 0o600)
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise ConfigError(
            f"The audit key {path} is damaged (expected {_KEY_BYTES * 2} hex digits).",
            "Restore it from your backup; without it the audit trail cannot be verified.",
        )
    return key


def _read_or_create(path: Path) -> bytes:
    if path.exists():
        return _read(path)
    # Written whole under a temporary name, then linked into place: a concurrent starter sees the whole key or none.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_bytes(_KEY_BYTES).hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process or thread was first: use its key
    finally:
        tmp.unlink()
    return _read(path)


class RecordKeys:
    """The chain key, the personal-data key and the head anchors in one keys folder."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir).expanduser().resolve()
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _owner_only(self.dir, 0o700)
            (self.dir / "anchors").mkdir(mode=0o700, exist_ok=True)
            self.chain_key = _read_or_create(self.dir / "chain.key")
            self._pii_key = _read_or_create(self.dir / "pii.key")
        except OSError as exc:
            raise ConfigError(
                f"The audit keys folder {self.dir} cannot be used: {exc.strerror or exc}.",
                "Point ANALYST_KEYS_DIR at a folder only you can write, outside the data directory.",
            ) from exc
        self._fingerprint_key = hmac.new(self._pii_key, b"fingerprint", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(hmac.new(self._pii_key, b"vault", hashlib.sha256).digest()))

    @classmethod
    def load(cls, keys_dir: Path) -> RecordKeys:
        """The keys of `keys_dir`, created there on first use; one object per folder and process."""
        path = Path(keys_dir).expanduser().resolve()
        with _CACHE_LOCK:
            if path not in _CACHE:
                _CACHE[path] = cls(path)
            return _CACHE[path]

    # --- the chain ---------------------------------------------------------------------------------

    def chain_hash(self, prev_hash: str, fields: list[Any]) -> str:
        """HMAC-SHA256 over the previous hash and every field of a record (as canonical JSON)."""
        message = json.dumps([prev_hash, *fields], separators=(",", ":"), ensure_ascii=False, default=str)
        return hmac.new(self.chain_key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def _mac(self, data: dict[str, Any]) -> str:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self.chain_key, b"anchor" + text.encode("utf-8"), hashlib.sha256).hexdigest()

    # --- personal data -----------------------------------------------------------------------------

    def fingerprint(self, kind: str, value: str) -> str:
        """8 hex digits, the same for the same value of a kind (keyed: not guessable from the value alone)."""
        message = f"{kind}\x00{value}".encode()
        return hmac.new(self._fingerprint_key, message, hashlib.sha256).hexdigest()[:8]

    def seal(self, value: str) -> str:
        """`value` encrypted (Fernet: AES-128-CBC with HMAC-SHA256) under the personal-data key."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def unseal(self, token: str) -> str:
        """The value `seal` encrypted; ConfigError when it was sealed under another key or altered."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise ConfigError("A sealed value cannot be decrypted with this personal-data key.",
                              "It was written under another keys folder, or altered.") from exc

    # --- head anchors ------------------------------------------------------------------------------

    def anchor_path(self, records_path: Path) -> Path:
        """Where the head of this records file is kept (named after its resolved path)."""
        resolved = str(Path(records_path).expanduser().resolve())
        return self.dir / "anchors" / f"{hashlib.sha256(resolved.encode()).hexdigest()[:24]}.json"

    @contextmanager
    def anchor_lock(self, records_path: Path) -> Iterator[None]:
        """Held across an append and its anchor update, so heads are written in chain order."""
        lock_path = self.anchor_path(records_path).with_suffix(".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def write_anchor(self, records_path: Path, head: dict[str, Any]) -> None:
        """Replace the head anchor atomically (the caller holds `anchor_lock`)."""
        path = self.anchor_path(records_path)
        data = {**head, "records_file": str(Path(records_path).resolve())}
        data["mac"] = self._mac(data)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def read_anchor(self, records_path: Path) -> dict[str, Any] | None:
        """The head anchor of this records file; None when there is none; {"error": ...} when it is not valid."""
        path = self.anchor_path(records_path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return {"error": f"the head anchor {path} cannot be read ({exc})"}
        if not isinstance(data, dict) or not hmac.compare_digest(str(data.pop("mac", "")), self._mac(data)):
            return {"error": f"the head anchor {path} was altered (its MAC does not match)"}
        return data
