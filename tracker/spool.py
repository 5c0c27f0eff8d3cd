"""The local spool: groups that could not reach PostgreSQL wait here, on disk, fsync'd.

Each process appends to a file of its own and holds an exclusive lock on it. A file whose
lock can be taken belongs to no living process (one that crashed, or this process's own):
its groups are replayed, in order, and the file removed. Replay is exactly-once because
every group carries its id and ``recorded_groups`` refuses an id it has seen.
"""

import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tracker.groups import Group

__all__ = ["Spool"]


class Spool:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder = folder
        self.path = folder / f"spool-{uuid.uuid4().hex}.jsonl"
        self._file: IO[bytes] | None = None
        self.depth = 0  # groups waiting in this process's own file

    def append(self, group: Group) -> None:
        if self._file is None:
            self._file = self.path.open("ab")
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file.write(group.to_spool().encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.depth += 1

    def waiting(self) -> list[Path]:
        """Files with groups to replay: this process's own, and those left by dead ones."""
        files = []
        for path in sorted(self.folder.glob("spool-*.jsonl")):
            if path == self.path:
                if self.depth:
                    files.append(path)
            elif _unlocked(path):
                files.append(path)
        return files

    def read(self, path: Path) -> Iterator[Group]:
        with path.open("r", encoding="utf-8") as stream:
            for line in stream:
                if line.endswith("\n"):  # a torn last line was never acknowledged
                    yield Group.from_spool(line)

    def done(self, path: Path) -> None:
        """All groups of ``path`` are committed: remove it."""
        if path == self.path and self._file is not None:
            self._file.close()
            self._file = None
            self.depth = 0
        path.unlink(missing_ok=True)

    def set_aside(self, path: Path, line_group: Group) -> None:
        """Keep a group that PostgreSQL refuses (not for want of a connection) for a person."""
        with (self.folder / "failed.jsonl").open("a", encoding="utf-8") as stream:
            stream.write(line_group.to_spool() + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _unlocked(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
        return True
    except (BlockingIOError, OSError):
        return False
