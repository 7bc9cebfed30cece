"""Content-addressed files: ``<root>/<aa>/<bb>/<sha256>``.

A file is written to a temporary name and renamed into place, so a reader never sees half a
blob; a crash leaves at worst an orphan, which the next write of the same bytes replaces.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from disclosure_inbox.domain.errors import DamagedStore

_SHA256 = re.compile(r"[0-9a-f]{64}")


class FileBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self._fsync = fsync
        self._dirs: set[Path] = set()  # fan-out directories known to exist
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists() and target.stat().st_size == len(data):
            return sha
        if target.parent not in self._dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def checked(self, sha256: str) -> bytes | None:
        """The bytes stored under ``sha256``, None if there are none; DamagedStore if they
        no longer hash to it (what staff are handed must be what arrived)."""
        if not _SHA256.fullmatch(sha256):  # the path is built from it
            raise DamagedStore(f"not a sha256: {sha256!r}")
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DamagedStore(f"cannot read the blob {sha256}: {exc.strerror}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DamagedStore(f"the blob {sha256} no longer matches its sha256")
        return data
