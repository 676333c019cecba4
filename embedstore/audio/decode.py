"""Decode one audio file to a validated mono ``float32`` signal (:func:`load_audio`).

``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, MP3, AIFF...) is tried first. What libsndfile cannot open
(M4A/AAC, Opus, WMA...) or fails to decode is decoded with PyAV (FFmpeg). Multichannel audio is mixed down block
by block while decoding, so the channels of a long file are never all held at once. Durations are seconds, rates
Hz, levels dBFS RMS.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from embedstore import config
from embedstore.audio.probe import probe_audio
from embedstore.audio.signal import Audio, resample, to_mono
from embedstore.audio.validate import audio_error, check_ogg_complete, validate_content
from embedstore.errors import ConfigError

__all__ = ["load_audio", "decode_soundfile", "decode_av"]


def decode_soundfile(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode with libsndfile, mixing down block by block.

    Returns
    -------
    samples : np.ndarray, shape (n,), float32
    sample_rate : int
        Hz.
    """
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        sr = int(f.samplerate)
        if f.channels == 1:
            return f.read(dtype="float32"), sr
        chunks = [to_mono(b) for b in f.blocks(blocksize=1 << 18, dtype="float32", always_2d=True)]
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), sr


def _planar_mono(frame: Any) -> np.ndarray:
    a = frame.to_ndarray()  # planar float: (channels, n)
    a = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a[None, :]
    return a.mean(axis=0, dtype=np.float64).astype(np.float32) if a.shape[0] > 1 else a[0].astype(np.float32)


def decode_av(path: str | os.PathLike, max_frames: int | None = None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV (FFmpeg) to mono.

    Parameters
    ----------
    path : str or os.PathLike
    max_frames : int, optional
        Stop soon after this many samples (an over-long file is refused without decoding all of it).

    Returns
    -------
    samples : np.ndarray, shape (n,), float32
    sample_rate : int
        Hz.
    """
    import av

    chunks: list[np.ndarray] = []
    total = 0
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        rate = int(s.rate or s.codec_context.sample_rate)
        conv = av.AudioResampler(format="fltp")  # keep layout and rate, convert to planar float
        for frame in c.decode(s):
            for out in conv.resample(frame):
                chunks.append(_planar_mono(out))
                total += chunks[-1].shape[0]
            if max_frames is not None and total > max_frames:
                break
        else:
            chunks.extend(_planar_mono(out) for out in conv.resample(None))
    y = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return y, rate


def _short(e: Exception) -> str:
    """A decoder's error in a few words."""
    strerror = getattr(e, "strerror", None)
    if strerror:
        return f"FFmpeg: {strerror}" if type(e).__module__.startswith("av") else str(strerror)
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else type(e).__name__
    return first[:120] if first else type(e).__name__


def _check_header(info: dict[str, Any], p: Path, max_duration_s: float | None) -> None:
    """Refuse from the header alone: a truncated WAV/AIFF or Ogg stream, a file longer than allowed."""
    if info["truncated"]:
        raise audio_error(
            "truncated",
            f"truncated file: the header declares {info['declared_bytes']} bytes of audio data but only "
            f"{info['available_bytes']} are present: {p}",
            p,
        )
    if info["backend"] == "soundfile" and info["frames"] == 0 and info["format"] == "OGG":
        # libsndfile finds no length when the last Ogg page is missing
        raise audio_error("truncated", f"truncated file: the Ogg stream stops before its end: {p}", p)
    dur = info["duration_s"]
    if dur is not None and max_duration_s is not None and dur > max_duration_s:
        raise audio_error("too_long", f"too long: {dur:.1f} s > max_duration_s={max_duration_s:g} s: {p}", p)


def _decode(info: dict[str, Any], p: Path, max_frames: int | None, validate: bool) -> tuple[np.ndarray, int]:
    """Decode with the backend that probed the file; libsndfile failures get a second chance with FFmpeg."""
    sr = int(info["sample_rate"])
    declared = info["frames"]
    if info["backend"] != "soundfile":
        try:
            return decode_av(p, max_frames)
        except Exception as e:
            raise audio_error("corrupt", f"corrupt audio data ({_short(e)}): {p}", p) from None
    try:
        samples, sr = decode_soundfile(p)
    except Exception:  # libsndfile opened it but could not decode: give FFmpeg a chance
        try:
            samples, rate = decode_av(p, max_frames)
        except Exception as e:
            raise audio_error("corrupt", f"corrupt audio data ({_short(e)}): {p}", p) from None
        # FFmpeg skips damaged frames silently: accept only a complete decode.
        if declared and abs(len(samples) * sr / rate - declared) > max(0.01 * declared, 0.05 * sr):
            raise audio_error(
                "corrupt", f"corrupt audio data: decoded {len(samples)} of {declared} frames: {p}", p
            ) from None
        return samples, rate
    # PCM and FLAC headers state the exact length; MP3/Ogg lengths can be estimates
    slack = 0.0 if info["format"] not in ("MP3", "OGG") else max(0.02 * declared, 0.05 * sr)
    if declared and len(samples) < declared - slack and validate:
        raise audio_error(
            "truncated",
            f"truncated file: the header declares {declared} frames but only {len(samples)} decode: {p}",
            p,
        )
    return samples, sr


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    max_duration_s: float | None = config.DEFAULT_MAX_DURATION_S,
    min_duration_s: float | None = config.DEFAULT_MIN_DURATION_S,
    silence_db: float | None = config.DEFAULT_SILENCE_DB,
    validate: bool = True,
) -> Audio:
    """Decode a file to mono ``float32``, validate it and resample it.

    Parameters
    ----------
    path : str or os.PathLike
    sample_rate : int, optional
        Resample to this rate (Hz); ``None`` keeps the file's rate.
    max_duration_s, min_duration_s : float or None
        Accepted duration range, seconds (``None``: no bound). ``max_duration_s`` is checked from the header
        before decoding.
    silence_db : float or None
        Recordings whose whole-file RMS is below this (dBFS) are refused as ``silent`` (``None``: no check).
    validate : bool
        When False, only failures to decode raise (``missing``, ``unreadable``, ``empty``, ``not_audio``,
        ``corrupt``); a truncated, silent, non-finite, too short or too long recording is returned as it
        decodes.

    Returns
    -------
    Audio
        ``samples`` of shape (n,), float32, at ``sample_rate`` (or the file's rate).

    Raises
    ------
    AudioError
        With ``reason`` one of ``missing``, ``unreadable``, ``empty``, ``not_audio``, ``corrupt``,
        ``truncated``, ``non_finite``, ``silent``, ``too_short``, ``too_long``.
    ConfigError
        For invalid options.
    """
    if sample_rate is not None and int(sample_rate) <= 0:
        raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if max_duration_s is not None and max_duration_s <= 0:
        raise ConfigError(f"max_duration_s must be positive, got {max_duration_s!r}")
    info = probe_audio(path)
    p = Path(path)
    max_frames = None
    if validate:
        _check_header(info, p, max_duration_s)
        check_ogg_complete(p)
        if max_duration_s is not None:
            max_frames = int(math.ceil(max_duration_s * info["sample_rate"])) + 1
    samples, sr = _decode(info, p, max_frames, validate)
    audio = Audio(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=int(sr), path=str(p))
    if validate:
        validate_content(
            audio, p, min_duration_s=min_duration_s, max_duration_s=max_duration_s, silence_db=silence_db
        )
    if sample_rate is not None and int(sample_rate) != audio.sample_rate:
        audio = Audio(resample(audio.samples, audio.sample_rate, int(sample_rate)), int(sample_rate), str(p))
    return audio
