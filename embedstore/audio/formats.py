"""Which files are audio: the file-name suffixes scanned in folders, and the container a file's first bytes
announce (used to tell a damaged audio file from a file that is not audio at all)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["AUDIO_EXTENSIONS", "is_audio_path", "sniff_container"]

#: File name suffixes treated as audio when scanning folders (lower case, with the dot).
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".mp3",
        ".m4a",
        ".mp4",
        ".aac",
        ".aif",
        ".aiff",
        ".aifc",
        ".opus",
        ".wma",
        ".caf",
        ".w64",
        ".rf64",
        ".au",
        ".snd",
        ".webm",
        ".mka",
    }
)

#: Magic numbers (the first four bytes) of audio containers, and the container's name.
_MAGIC = {
    b"RIFF": "WAV",
    b"RF64": "WAV",
    b"FORM": "AIFF",
    b"fLaC": "FLAC",
    b"OggS": "Ogg",
    b"caff": "CAF",
    b".snd": "AU",
    b"\x1aE\xdf\xa3": "Matroska/WebM",
    b"\x30\x26\xb2\x75": "ASF/WMA",
}


def is_audio_path(path: str | os.PathLike) -> bool:
    """Whether a file name ends in one of :data:`AUDIO_EXTENSIONS` (case-insensitive).

    Parameters
    ----------
    path : str or os.PathLike
        A file name or path; the file need not exist.

    Returns
    -------
    bool
        False for hidden files, including macOS resource-fork twins (``._name.wav``).
    """
    p = Path(path)
    if p.name.startswith("."):
        return False
    return p.suffix.lower() in AUDIO_EXTENSIONS


def sniff_container(path: str | os.PathLike) -> str | None:
    """The audio container a file's first bytes announce.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str or None
        E.g. ``'WAV'``, ``'FLAC'``, ``'MP3'``, ``'MP4/M4A'``; ``None`` when the bytes look like no audio format
        or the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[:4] in _MAGIC:
        return _MAGIC[head[:4]]
    if head[:3] == b"ID3":
        return "MP3"
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "MPEG audio"
    return None
