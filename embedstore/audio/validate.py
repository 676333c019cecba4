"""Refusing audio with a reason: the reason codes and their hints, the checks before a file is opened and the
checks of the decoded content.

Reason codes (``AudioError.reason``): ``missing``, ``unreadable``, ``empty``, ``not_audio``, ``corrupt``,
``truncated``, ``non_finite``, ``silent``, ``too_short``, ``too_long``; the indexer adds ``bad_file_name``,
``not_a_file``, ``encoder_failed`` and ``internal_error``. Durations are seconds, levels dBFS RMS.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from embedstore.audio.signal import Audio, rms_db
from embedstore.errors import AudioError

__all__ = ["REASON_HINTS", "audio_error", "check_ogg_complete", "check_readable", "validate_content"]

#: Extensions of Ogg containers, whose last page must carry the end-of-stream flag.
OGG_SUFFIXES = (".ogg", ".oga", ".opus")

#: What the user can do about each refusal (shown as the error's ``hint``).
REASON_HINTS: dict[str, str] = {
    "missing": "check the path; relative paths are resolved from the current directory",
    "unreadable": "check the file's permissions",
    "empty": "the file has 0 bytes; re-export or re-copy it",
    "not_audio": "the file is not in an audio format that libsndfile or FFmpeg can read",
    "corrupt": "the file is damaged; re-export or re-copy it",
    "truncated": "the file is shorter than its header says (interrupted copy or download?); re-copy it",
    "non_finite": "the file holds NaN or infinite samples; re-export it",
    "silent": "the recording is (nearly) silent; lower silence_db to accept it",
    "too_short": "the recording is shorter than min_duration_s",
    "too_long": "the recording is longer than max_duration_s; split it or raise max_duration_s",
    "bad_file_name": "the file name is not valid UTF-8; rename the file",
    "not_a_file": "a directory, FIFO or device with an audio extension; rename it or move it out of the folder",
    "encoder_failed": "the encoder failed on this file; the message says why",
    "internal_error": "a bug in embedstore; please report it with the message",
}


def audio_error(reason: str, message: str, path: str | os.PathLike | None) -> AudioError:
    """An :class:`~embedstore.errors.AudioError` with the reason's hint.

    Parameters
    ----------
    reason : str
        One of the reason codes (see :data:`REASON_HINTS`).
    message : str
        One line saying what is wrong, naming the file.
    path : str, os.PathLike or None
        The file concerned.

    Returns
    -------
    AudioError
        To be raised by the caller.
    """
    return AudioError(
        message, reason=reason, path=None if path is None else str(path), hint=REASON_HINTS.get(reason)
    )


def check_readable(path: str | os.PathLike) -> Path:
    """Refuse a path that is missing, a folder, unreadable or empty, before any decoder sees it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Path
        The path, for the caller to open.

    Raises
    ------
    AudioError
        ``missing``, ``not_audio`` (a folder), ``unreadable`` or ``empty``.
    """
    p = Path(path)
    if not p.exists():
        raise audio_error("missing", f"no such file: {p}", p)
    if p.is_dir():
        raise audio_error("not_audio", f"is a directory, not an audio file: {p}", p)
    if not os.access(p, os.R_OK):
        raise audio_error("unreadable", f"permission denied: {p}", p)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise audio_error("unreadable", f"cannot read {p}: {e.strerror or e}", p) from None
    if size == 0:
        raise audio_error("empty", f"empty file (0 bytes): {p}", p)
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as e:
        raise audio_error("unreadable", f"cannot read {p}: {e.strerror or e}", p) from None
    return p


def validate_content(
    audio: Audio,
    path: str | os.PathLike,
    *,
    min_duration_s: float | None,
    max_duration_s: float | None,
    silence_db: float | None,
) -> None:
    """Refuse a decoded recording that is too long, not finite, too short or silent (checked in that order).

    Parameters
    ----------
    audio : Audio
        The decoded recording.
    path : str or os.PathLike
        Its file, named in the message.
    min_duration_s, max_duration_s : float or None
        Accepted duration range, seconds; ``None`` does not check that bound.
    silence_db : float or None
        A whole-file RMS below this (dBFS), or all-zero samples, is ``silent``; ``None`` does not check.

    Raises
    ------
    AudioError
        ``too_long``, ``non_finite``, ``too_short`` or ``silent``.
    """
    p = Path(path)
    x = audio.samples
    dur = audio.duration_s
    if max_duration_s is not None and dur > max_duration_s:
        raise audio_error("too_long", f"too long: > max_duration_s={max_duration_s:g} s: {p}", p)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise audio_error("non_finite", f"{bad} NaN or infinite samples: {p}", p)
    if min_duration_s is not None and dur < min_duration_s:
        raise audio_error(
            "too_short", f"too short: {dur:.3f} s < min_duration_s={min_duration_s:g} s: {p}", p
        )
    level = rms_db(x - np.mean(x)) if x.size else float("-inf")  # a constant (DC) signal is silent too
    if silence_db is not None and (not np.any(x) or level < silence_db):
        shown = "-inf" if level == float("-inf") else f"{level:.1f}"
        raise audio_error("silent", f"silent: RMS {shown} dBFS < silence_db={silence_db:g} dBFS: {p}", p)


def check_ogg_complete(path: str | os.PathLike, *, tail_bytes: int = 1 << 16) -> None:
    """Refuse an Ogg file whose last page is not an end-of-stream page (a cut copy or download): decoders play such
    a file to where it stops without an error, so it would be indexed as if whole.

    Raises
    ------
    AudioError
        ``truncated``.
    """
    p = Path(path)
    if p.suffix.lower() not in OGG_SUFFIXES:
        return
    with open(p, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - tail_bytes))
        tail = f.read()
    pos = tail.find(b"OggS")
    while pos != -1:
        if pos + 5 < len(tail) and tail[pos + 5] & 0x04:
            return
        pos = tail.find(b"OggS", pos + 4)
    raise audio_error("truncated", f"truncated: the Ogg stream has no end-of-stream page: {p}", p)
