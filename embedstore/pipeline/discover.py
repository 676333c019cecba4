"""Which files an indexing run reads: audio files under folders, plus files named explicitly."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from embedstore.audio import is_audio_path
from embedstore.errors import ConfigError


def discover(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Audio files under the given files and folders (recursive), resolved, without duplicates, sorted per folder.

    Folders yield the files with audio extensions (skipping anything inside a ``*.lance`` store); files named
    explicitly are always included, so a non-audio file given by name is rejected by the reader, not ignored.

    Parameters
    ----------
    paths : str, Path or sequence of them

    Returns
    -------
    list of Path
        Absolute paths, in the order given (folders expanded in sorted order).

    Raises
    ------
    ConfigError
        For a path that does not exist.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += [
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and is_audio_path(f) and not any(part.endswith(".lance") for part in f.parts)
            ]
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError(f"no such file or folder: {p}")
    seen: set[Path] = set()
    uniq: list[Path] = []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(r)
    return uniq


def discover_inputs(paths: str | Path | Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """:func:`discover`, plus the inputs that look like audio but are not regular files, and why.

    A directory or FIFO named ``x.wav``, a link to nothing or a link loop under a folder is reported here instead of
    being dropped without a word (a FIFO is never opened: reading it could block forever).

    Returns
    -------
    files : list of Path
        As :func:`discover`.
    not_files : list of (str, str)
        (path, why) of each input with an audio extension that is not a regular file.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    not_files: list[tuple[str, str]] = []
    for p in map(Path, paths):
        if not p.is_dir():
            continue
        for f in sorted(p.rglob("*")):
            if not is_audio_path(f) or any(part.endswith(".lance") for part in f.parts):
                continue
            why = _not_a_file(f)
            if why:
                not_files.append((display_path(f), why))
    return discover(paths), not_files


def _not_a_file(f: Path) -> str:
    """Why ``f`` is not a regular file ("" when it is one)."""
    try:
        mode = os.stat(f).st_mode
    except OSError as e:
        return (
            f"cannot follow link: {e.strerror or e}" if f.is_symlink() else f"cannot stat: {e.strerror or e}"
        )
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    return "not a regular file"


def display_path(p: str | Path) -> str:
    """A path as text that can be stored and printed: bytes that are not UTF-8 are shown as ``\\xNN``."""
    return os.fsencode(str(p)).decode("utf-8", "backslashreplace")


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Generator form of :func:`discover` (for scripts)."""
    yield from discover(list(paths))
