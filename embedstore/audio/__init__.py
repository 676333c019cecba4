"""Decode, validate, resample and window audio files.

Task
    Turn one audio file into a mono ``float32`` signal at a known sample rate, or refuse it with an
    :class:`~embedstore.errors.AudioError` whose ``reason`` says why (one short code per failure).

Units and conventions
    - Samples are ``float32`` in ``[-1, 1]`` (full scale); mono is the mean of the channels.
    - Times are seconds (``float``); sample rates are Hz (``int``).
    - Levels are dBFS RMS: a full-scale sine is -3 dBFS, digital silence is ``-inf``.

Modules
    - :mod:`~embedstore.audio.formats`   which files are audio (suffixes, container magic numbers)
    - :mod:`~embedstore.audio.validate`  reason codes and hints, checks before opening and of the content
    - :mod:`~embedstore.audio.probe`     header information without decoding (:func:`probe_audio`)
    - :mod:`~embedstore.audio.decode`    decoding with libsndfile, then FFmpeg (:func:`load_audio`)
    - :mod:`~embedstore.audio.signal`    :class:`Audio`, level, mixdown, resampling
    - :mod:`~embedstore.audio.windows`   fixed-length analysis windows (:func:`frame_windows`)

Decoding
    ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, MP3, AIFF...) is tried first. What libsndfile cannot
    open (M4A/AAC, Opus, WMA...) or fails to decode is decoded with PyAV (FFmpeg). Both, and soxr, are imported
    inside the functions that use them.

Validation (``AudioError.reason``)
    ``missing``, ``unreadable``, ``empty``, ``not_audio``, ``corrupt``, ``truncated``, ``non_finite``,
    ``silent``, ``too_short``, ``too_long``. Durations are checked from the header before decoding, so an
    over-long file is refused without being loaded into memory.
"""

from __future__ import annotations

import os

from embedstore.audio.decode import load_audio
from embedstore.audio.formats import AUDIO_EXTENSIONS, is_audio_path
from embedstore.audio.probe import probe_audio
from embedstore.audio.signal import Audio, resample, rms_db, to_mono
from embedstore.audio.windows import frame_windows
from embedstore.utils import sha256_file

__all__ = [
    "AUDIO_EXTENSIONS",
    "Audio",
    "probe_audio",
    "load_audio",
    "resample",
    "to_mono",
    "frame_windows",
    "content_hash",
    "rms_db",
    "is_audio_path",
]


def content_hash(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Deprecated: use :func:`embedstore.utils.sha256_file`, the one content hash (this calls it).

    Kept only while modules outside the audio room still call it; it goes when they have switched.
    """
    return sha256_file(path, chunk=chunk)
