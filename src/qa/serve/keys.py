"""API keys: made once and shown once, stored only as hashes in a file of mode 0600, checked in constant time.

A key is 32 random bytes (secrets.token_urlsafe), so its SHA-256 needs no salt or slow hash: a slow
hash (bcrypt, argon2) protects guessable passwords, and nothing can guess 256 random bits; a fast
hash keeps each request's check to microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import QAError

PREFIX = "qa_"  # a key says what it is for (and secret scanners can tell it)
KEYS_SUFFIX = ".keys.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def default_keys_file(index_dir: Path) -> Path:
    """The keys file of an index: beside the folder, never in it (a rebuild replaces the folder whole)."""
    index_dir = Path(os.path.abspath(index_dir))
    return index_dir.with_name(index_dir.name + KEYS_SUFFIX)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    name: str
    hash: str
    created: str


def read_keys(path: Path) -> list[KeyRecord]:
    """The keys recorded at `path` ([] when there is no file); a QAError when it is not a keys file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise QAError(f"cannot read the keys file {path} ({exc.strerror})") from None
    except ValueError:
        raise QAError(f"{path} is not a qa keys file (not JSON)") from None
    try:
        if data.get("format") != "qa-keys":
            raise ValueError
        return [KeyRecord(str(k["name"]), str(k["hash"]), str(k["created"])) for k in data["keys"]]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise QAError(f"{path} is not a qa keys file") from None


def write_keys(path: Path, records: list[KeyRecord]) -> None:
    """Replace the keys file atomically (a temporary file of mode 0600 beside it, then renamed over it)."""
    path = Path(path)
    body = json.dumps({"format": "qa-keys", "keys": [r.__dict__ for r in records]}, indent=1) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise QAError(f"cannot write the keys file {path} ({exc.strerror})") from None


def add_key(path: Path, name: str) -> str:
    """A new key named `name`, recorded at `path` by its hash; the key itself is returned, never stored."""
    if not NAME.fullmatch(name):
        raise QAError(f"a key name is letters, digits, '_', '.', '@' and '-' (at most 64), not {name!r}")
    records = read_keys(path)
    if any(r.name == name for r in records):
        raise QAError(f"a key named {name!r} exists: revoke it first (`qa keys revoke {name}`) or pick another name")
    key = PREFIX + secrets.token_urlsafe(32)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_keys(path, [*records, KeyRecord(name, key_hash(key), created)])
    return key


def revoke_key(path: Path, name: str) -> None:
    records = read_keys(path)
    if not any(r.name == name for r in records):
        raise QAError(f"no key named {name!r} in {path}", status=404)
    write_keys(path, [r for r in records if r.name != name])


class Keys:
    """The keys file as a server checks it: read again when it changed (a revoke takes effect at once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple | None = None
        self._records: list[KeyRecord] = []
        self.refresh()

    def refresh(self) -> None:
        try:
            info = self.path.stat()
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            try:
                self._records = read_keys(self.path)
            except QAError:
                self._records = []  # a broken file lets no one in, rather than everyone
            self._stamp = stamp

    def __len__(self) -> int:
        return len(self._records)

    def name_of(self, key: str) -> str | None:
        """The name of the key `key`, or None. Every record is compared, each in constant time
        (hmac.compare_digest), so the time taken says nothing of how close a guess came."""
        presented = key_hash(key).encode()
        found = None
        for record in self._records:
            if hmac.compare_digest(presented, record.hash.encode()):
                found = record.name
        return found
