"""Which files an indexing run reads: audio files under folders, plus files named explicitly."""

from __future__ import annotations

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


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Generator form of :func:`discover` (for scripts)."""
    yield from discover(list(paths))
