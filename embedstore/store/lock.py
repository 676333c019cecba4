"""One writer at a time: the store's write lock (a file holding the writer's pid).

A second ``embedstore index`` (or ``repair``) on the same store is refused with a clear message instead of
interleaving its writes with the first's. A lock left by a process that no longer runs (killed with ``kill -9``) is
taken over. Readers (search, info, verify) take no lock: the write protocol keeps every committed state readable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from embedstore.errors import StoreError

#: Name of the lock file inside a local store.
LOCK_FILE = ".embedstore-write.lock"


def _alive(pid: int) -> bool:
    """Whether a process with this pid runs (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> int:
    """The pid written in a lock file (0 when unreadable)."""
    try:
        return int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


@contextlib.contextmanager
def write_lock(uri: str) -> Iterator[None]:
    """Hold the store's write lock for the ``with`` block (nothing for a remote store).

    Parameters
    ----------
    uri : str
        The store's resolved local path (``Store.uri``).

    Raises
    ------
    StoreError
        When another live process holds the lock.
    """
    if "://" in uri:
        yield
        return
    lock = Path(uri) / LOCK_FILE
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _holder(lock)
            if pid == os.getpid() or _alive(pid):
                raise StoreError(
                    f"store {uri} is being written by another process (pid {pid})",
                    hint="wait for that `embedstore index` to finish, or index into another --store; "
                    f"if no such process runs, delete {lock}",
                ) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # left by a process that died: take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise StoreError(f"could not take the write lock of store {uri}", hint=f"delete {lock} and retry")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _holder(lock) == os.getpid():
                lock.unlink()
