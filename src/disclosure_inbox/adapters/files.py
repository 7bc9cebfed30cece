"""New files in a directory that staff chose: attachments saved from a report.

Each file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``, relative to a descriptor of the
directory opened once: nothing already there is overwritten, a symbolic link in its place is
never followed, and a directory renamed while the files are written cannot send one
elsewhere. The mode is 0o644, less whatever the umask takes away: never executable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from types import TracebackType

from disclosure_inbox.domain.errors import CannotWrite

MODE = 0o644
# Candidates tried for one file before giving up: a directory holding report.pdf and
# report-1.pdf ... report-999.pdf is not one to keep writing into.
MAX_TRIES = 1000
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _plain(name: str) -> bool:
    # A name with a separator would reach another directory (an absolute one ignores the
    # directory descriptor altogether); the names come from domain.filenames, so this is
    # a last check, not the rule.
    return bool(name) and "/" not in name and "\x00" not in name and name not in {".", ".."}


class NewFiles:
    """Write files into ``directory`` (made, with its parents, if missing) without ever
    replacing one. Use as a context manager: the directory's descriptor is closed on exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise CannotWrite(f"cannot write into {directory}: {exc.strerror}") from exc

    def __enter__(self) -> NewFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        os.close(self._dir_fd)

    def write(self, names: Iterable[str], data: bytes) -> Path:
        """Create the first of ``names`` that does not exist yet, holding ``data``; its path.
        A file cut short by an error is removed."""
        for name in islice(names, MAX_TRIES):
            if not _plain(name):
                raise ValueError(f"not a plain file name: {name!r}")
            try:
                fd = os.open(name, _FLAGS, MODE, dir_fd=self._dir_fd)
            except FileExistsError:
                continue
            except OSError as exc:
                raise CannotWrite(f"cannot create {self.directory / name}: {exc.strerror}") from exc
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self._dir_fd)
                if isinstance(exc, OSError):
                    path = self.directory / name
                    raise CannotWrite(f"cannot write {path}: {exc.strerror}") from exc
                raise
            return self.directory / name
        raise CannotWrite(f"no free name in {self.directory} after {MAX_TRIES} tries")
