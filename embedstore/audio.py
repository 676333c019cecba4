"""Decode, validate, resample and window audio files.

Task
    Turn one audio file into a mono ``float32`` signal at a known sample rate, or refuse it with an
    :class:`~embedstore.errors.AudioError` whose ``reason`` says why (one short code per failure).

Units and conventions
    - Samples are ``float32`` in ``[-1, 1]`` (full scale); mono is the mean of the channels.
    - Times are seconds (``float``); sample rates are Hz (``int``).
    - Levels are dBFS RMS: a full-scale sine is -3 dBFS, digital silence is ``-inf``.

Decoding
    ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, MP3, AIFF...) is tried first. What libsndfile cannot
    open (M4A/AAC, Opus, WMA...) or fails to decode is decoded with PyAV (FFmpeg).

Validation (``AudioError.reason``)
    ``missing``, ``unreadable``, ``empty``, ``not_audio``, ``corrupt``, ``truncated``, ``non_finite``,
    ``silent``, ``too_short``, ``too_long``. Durations are checked from the header before decoding, so an
    over-long file is refused without being loaded into memory.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore import config
from embedstore.errors import AudioError, ConfigError
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

_HINTS = {
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
}


def _fail(reason: str, message: str, path) -> AudioError:
    return AudioError(
        message, reason=reason, path=None if path is None else str(path), hint=_HINTS.get(reason)
    )


@dataclass
class Audio:
    """A decoded mono recording.

    Attributes
    ----------
    samples : np.ndarray, shape (n,), float32
    sample_rate : int
    path : str or None
        The file it was read from, if any.
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = None

    @property
    def duration_s(self) -> float:
        """Length in seconds (``len(samples) / sample_rate``)."""
        return len(self.samples) / float(self.sample_rate)

    @property
    def n_samples(self) -> int:
        return int(len(self.samples))


# --------------------------------------------------------------------------------------------------
# small helpers


def is_audio_path(path) -> bool:
    """True if the name ends in one of :data:`AUDIO_EXTENSIONS` (case-insensitive).

    macOS resource-fork twins (``._name.wav``) and other hidden files are not audio.
    """
    p = Path(path)
    if p.name.startswith("."):
        return False
    return p.suffix.lower() in AUDIO_EXTENSIONS


def content_hash(path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes (see :func:`embedstore.utils.sha256_file`, which callers should use)."""
    return sha256_file(path, chunk=chunk)


def rms_db(samples) -> float:
    """Root-mean-square level in dBFS; ``-inf`` for digital silence or an empty signal.

    Parameters
    ----------
    samples : np.ndarray, shape (n,) or (n, channels)
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    ms = float(np.mean(np.square(x)))
    if not np.isfinite(ms):
        return float("nan")
    if ms <= 0.0:
        return float("-inf")
    return 10.0 * math.log10(ms)


def to_mono(samples) -> np.ndarray:
    """Mix down to mono (mean of channels).

    Parameters
    ----------
    samples : np.ndarray, shape (n,) or (n, channels)

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    x = np.asarray(samples)
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    if x.ndim != 2:
        raise ConfigError(f"expected samples of shape (n,) or (n, channels), got shape {x.shape}")
    if x.shape[1] == 1:
        return np.ascontiguousarray(x[:, 0], dtype=np.float32)
    return x.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample with soxr (``'HQ'`` quality).

    Parameters
    ----------
    samples : np.ndarray, shape (n,) or (n, channels)
    sr_in, sr_out : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray, shape (round(n * sr_out / sr_in),) or (that, channels), float32
    """
    if int(sr_in) <= 0 or int(sr_out) <= 0:
        raise ConfigError(f"sample rates must be positive, got sr_in={sr_in}, sr_out={sr_out}")
    x = np.asarray(samples, dtype=np.float32)
    if int(sr_in) == int(sr_out) or x.shape[0] == 0:
        if int(sr_in) != int(sr_out):
            return np.zeros((0,) + x.shape[1:], dtype=np.float32)
        return x
    import soxr

    y = soxr.resample(np.ascontiguousarray(x), int(sr_in), int(sr_out), quality="HQ")
    return np.asarray(y, dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# header inspection


def _check_path(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise _fail("missing", f"no such file: {p}", p)
    if p.is_dir():
        raise _fail("not_audio", f"is a directory, not an audio file: {p}", p)
    if not os.access(p, os.R_OK):
        raise _fail("unreadable", f"permission denied: {p}", p)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise _fail("unreadable", f"cannot read {p}: {e.strerror or e}", p) from None
    if size == 0:
        raise _fail("empty", f"empty file (0 bytes): {p}", p)
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as e:
        raise _fail("unreadable", f"cannot read {p}: {e.strerror or e}", p) from None
    return p


def _riff_declared(p: Path, size: int) -> tuple[int, int] | None:
    """(declared data bytes, available data bytes) of a RIFF/WAVE or AIFF file; None if not parseable."""
    try:
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12:
                return None
            tag, form = head[:4], head[8:12]
            if tag == b"RIFF" and form == b"WAVE":
                endian = "<"
                data_id = b"data"
            elif tag == b"FORM" and form in (b"AIFF", b"AIFC"):
                endian = ">"
                data_id = b"SSND"
            else:
                return None
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid = hdr[:4]
                (csize,) = struct.unpack(endian + "I", hdr[4:])
                if cid == data_id:
                    start = pos + 8
                    if data_id == b"SSND":  # offset + blockSize precede the sample frames
                        extra = f.read(8)
                        if len(extra) < 8:
                            return (csize, 0)
                        (offset, _) = struct.unpack(">II", extra)
                        start += 8 + offset
                        csize -= 8 + offset
                    if csize in (0, 0xFFFFFFFF) or csize < 0:  # streamed / unknown length
                        return None
                    return (csize, max(0, size - start))
                pos += 8 + csize + (csize & 1)
    except OSError:
        return None
    return None


def _probe_sf(p: Path) -> dict | None:
    import soundfile as sf

    try:
        info = sf.info(str(p))
    except Exception:
        return None
    if info.samplerate <= 0 or info.channels <= 0:
        return None
    return {
        "sample_rate": int(info.samplerate),
        "frames": int(info.frames),
        "channels": int(info.channels),
        "duration_s": float(info.frames) / float(info.samplerate),
        "format": str(info.format),
        "subtype": str(info.subtype),
        "backend": "soundfile",
    }


_AV_FORMATS = {"mov": "MP4", "matroska": "MATROSKA", "asf": "ASF", "aac": "AAC", "ogg": "OGG"}


def _probe_av(p: Path) -> dict | None:
    import av

    try:
        with av.open(str(p)) as c:
            if not c.streams.audio:
                return None
            s = c.streams.audio[0]
            rate = int(s.rate or s.codec_context.sample_rate or 0)
            if rate <= 0:
                return None
            try:
                channels = int(s.codec_context.layout.nb_channels)
            except Exception:
                channels = int(getattr(s.codec_context, "channels", 0) or 0)
            dur = None
            if s.duration is not None and s.time_base is not None:
                dur = float(s.duration * s.time_base)
            elif c.duration is not None:
                dur = float(c.duration) / 1_000_000.0
            return {
                "sample_rate": rate,
                "frames": None if dur is None else int(round(dur * rate)),
                "channels": channels,
                "duration_s": dur,
                "format": _AV_FORMATS.get(c.format.name.split(",")[0], c.format.name.split(",")[0].upper()),
                "subtype": s.codec_context.name,
                "backend": "av",
            }
    except Exception:
        return None


def _sniff(p: Path) -> str | None:
    """The container an audio file's first bytes announce (None if they look like no audio format)."""
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    magic = {
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
    if head[:4] in magic:
        return magic[head[:4]]
    if head[:3] == b"ID3":
        return "MP3"
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "MPEG audio"
    return None


def probe_audio(path) -> dict:
    """Cheap header information, without decoding the samples.

    Returns
    -------
    dict
        ``sample_rate`` (int), ``frames`` (int, or None when the container does not say), ``channels``
        (int), ``duration_s`` (float or None), ``format`` (e.g. ``'WAV'``, ``'FLAC'``, ``'MOV'``),
        ``subtype`` (sample format or codec), ``backend`` (``'soundfile'`` or ``'av'``), ``size_bytes``,
        and ``truncated`` (bool: a WAV/AIFF whose data chunk is shorter than its header declares).

    Raises
    ------
    AudioError
        ``missing``, ``unreadable``, ``empty`` or ``not_audio``.
    """
    p = _check_path(path)
    size = p.stat().st_size
    info = _probe_sf(p) or _probe_av(p)
    if info is None:
        kind = _sniff(p)
        if kind is not None:
            raise _fail("corrupt", f"damaged {kind} file (neither libsndfile nor FFmpeg can open it): {p}", p)
        raise _fail("not_audio", f"not an audio file (neither libsndfile nor FFmpeg can open it): {p}", p)
    info["size_bytes"] = int(size)
    info["truncated"] = False
    riff = _riff_declared(p, size)
    if riff is not None:
        declared, available = riff
        info["truncated"] = available < declared
        info["declared_bytes"] = int(declared)
        info["available_bytes"] = int(available)
    return info


# --------------------------------------------------------------------------------------------------
# decoding


def _decode_sf(p: Path) -> tuple[np.ndarray, int]:
    """Decode with libsndfile block by block, mixing down as it goes (never holds all channels at once)."""
    import soundfile as sf

    with sf.SoundFile(str(p)) as f:
        sr = int(f.samplerate)
        if f.channels == 1:
            return f.read(dtype="float32"), sr
        chunks = [to_mono(b) for b in f.blocks(blocksize=1 << 18, dtype="float32", always_2d=True)]
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), sr


def _planar_mono(frame) -> np.ndarray:
    a = frame.to_ndarray()  # planar float: (channels, n)
    a = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a[None, :]
    return a.mean(axis=0, dtype=np.float64).astype(np.float32) if a.shape[0] > 1 else a[0].astype(np.float32)


def _decode_av(p: Path, max_frames: int | None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV to mono float32; stop early once past ``max_frames``."""
    import av

    chunks: list[np.ndarray] = []
    total = 0
    with av.open(str(p)) as c:
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


def load_audio(
    path,
    *,
    sample_rate: int | None = None,
    max_duration_s: float = config.DEFAULT_MAX_DURATION_S,
    min_duration_s: float = 0.1,
    silence_db: float = config.SILENCE_DB,
    validate: bool = True,
) -> Audio:
    """Decode a file to mono ``float32``, validate it and resample it.

    Parameters
    ----------
    path : str or Path
    sample_rate : int, optional
        Resample to this rate (Hz); ``None`` keeps the file's rate.
    max_duration_s, min_duration_s : float
        Accepted duration range, seconds. ``max_duration_s`` is checked from the header before decoding.
    silence_db : float
        Recordings whose whole-file RMS is below this (dBFS) are refused as ``silent``.
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
    sr = info["sample_rate"]

    if validate:
        if info["truncated"]:
            raise _fail(
                "truncated",
                f"truncated file: the header declares {info['declared_bytes']} bytes of audio data but only "
                f"{info['available_bytes']} are present: {p}",
                p,
            )
        if info["backend"] == "soundfile" and info["frames"] == 0 and info["format"] == "OGG":
            # libsndfile finds no length when the last Ogg page is missing
            raise _fail("truncated", f"truncated file: the Ogg stream stops before its end: {p}", p)
        dur = info["duration_s"]
        if dur is not None and max_duration_s is not None and dur > max_duration_s:
            raise _fail("too_long", f"too long: {dur:.1f} s > max_duration_s={max_duration_s:g} s: {p}", p)

    max_frames = None
    if validate and max_duration_s is not None:
        max_frames = int(math.ceil(max_duration_s * sr)) + 1

    samples = None
    declared = info["frames"]
    if info["backend"] == "soundfile":
        try:
            samples, sr = _decode_sf(p)
            sf_ok = True
        except Exception:
            sf_ok = False  # libsndfile opened it but could not decode: give FFmpeg a chance
        if not sf_ok:
            try:
                samples, r = _decode_av(p, max_frames)
            except Exception as e:
                raise _fail("corrupt", f"corrupt audio data ({_short(e)}): {p}", p) from None
            # FFmpeg skips damaged frames silently: accept only a complete decode.
            if declared and abs(len(samples) * sr / r - declared) > max(0.01 * declared, 0.05 * sr):
                raise _fail(
                    "corrupt", f"corrupt audio data: decoded {len(samples)} of {declared} frames: {p}", p
                )
            sr = r
        else:
            # PCM and FLAC headers state the exact length; MP3/Ogg lengths can be estimates
            slack = 0 if info["format"] not in ("MP3", "OGG") else max(0.02 * declared, 0.05 * sr)
            if declared and len(samples) < declared - slack and validate:
                raise _fail(
                    "truncated",
                    f"truncated file: the header declares {declared} frames but only {len(samples)} decode: {p}",
                    p,
                )
    else:
        try:
            samples, sr = _decode_av(p, max_frames)
        except Exception as e:
            raise _fail("corrupt", f"corrupt audio data ({_short(e)}): {p}", p) from None

    audio = Audio(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=int(sr), path=str(p))
    if validate:
        _validate_content(
            audio, p, min_duration_s=min_duration_s, max_duration_s=max_duration_s, silence_db=silence_db
        )
    if sample_rate is not None and int(sample_rate) != audio.sample_rate:
        audio = Audio(resample(audio.samples, audio.sample_rate, int(sample_rate)), int(sample_rate), str(p))
    return audio


def _short(e: Exception) -> str:
    if getattr(e, "strerror", None):
        return f"FFmpeg: {e.strerror}" if type(e).__module__.startswith("av") else str(e.strerror)
    s = str(e).strip().splitlines()
    s = s[0] if s else type(e).__name__
    return s[:120] if s else type(e).__name__


def _validate_content(audio: Audio, p: Path, *, min_duration_s, max_duration_s, silence_db) -> None:
    x = audio.samples
    dur = audio.duration_s
    if max_duration_s is not None and dur > max_duration_s:
        raise _fail("too_long", f"too long: > max_duration_s={max_duration_s:g} s: {p}", p)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise _fail("non_finite", f"{bad} NaN or infinite samples: {p}", p)
    if min_duration_s is not None and dur < min_duration_s:
        raise _fail("too_short", f"too short: {dur:.3f} s < min_duration_s={min_duration_s:g} s: {p}", p)
    level = rms_db(x)
    if silence_db is not None and (not np.any(x) or level < silence_db):
        shown = "-inf" if level == float("-inf") else f"{level:.1f}"
        raise _fail("silent", f"silent: RMS {shown} dBFS < silence_db={silence_db:g} dBFS: {p}", p)


# --------------------------------------------------------------------------------------------------
# windowing


def frame_windows(
    samples,
    sample_rate: int,
    *,
    window_s: float,
    hop_s: float,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a passage of a signal into (possibly overlapping) fixed-length windows.

    Windows start every ``hop_s`` from ``start_s``. Full windows are kept; after the last full window, one
    partial window is kept, zero-padded, if it holds at least half a window of audio. A passage shorter
    than one window gives exactly one zero-padded window; an empty passage gives none.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
    sample_rate : int
    window_s, hop_s : float
        Window length and hop, seconds (> 0). Rounded to whole samples.
    start_s, end_s : float
        The passage to window, seconds; ``end_s=None`` means the end of the signal. Audio after ``end_s``
        is never included (padding is zeros).

    Returns
    -------
    windows : np.ndarray, shape (n_windows, round(window_s * sample_rate)), float32
    starts_s : np.ndarray, shape (n_windows,), float64
        Start time of each window in the signal, seconds: its first sample index / ``sample_rate``.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ConfigError(f"frame_windows expects mono samples of shape (n,), got shape {x.shape}")
    if sample_rate is None or int(sample_rate) <= 0:
        raise ConfigError(f"sample_rate must be positive, got {sample_rate!r}")
    if not (window_s and window_s > 0 and np.isfinite(window_s)):
        raise ConfigError(f"window_s must be positive, got {window_s!r}")
    if not (hop_s and hop_s > 0 and np.isfinite(hop_s)):
        raise ConfigError(f"hop_s must be positive, got {hop_s!r}")
    if start_s is None:
        start_s = 0.0
    if start_s < 0:
        raise ConfigError(f"start_s must be >= 0, got {start_s!r}")
    if end_s is not None and end_s <= start_s:
        raise ConfigError(f"end_s must be greater than start_s, got start_s={start_s!r}, end_s={end_s!r}")
    sr = int(sample_rate)
    win = max(1, int(round(window_s * sr)))
    n = x.shape[0]
    a = min(n, int(round(start_s * sr)))
    b = n if end_s is None else min(n, int(round(end_s * sr)))
    b = max(a, b)
    length = b - a
    if length == 0:
        return np.zeros((0, win), dtype=np.float32), np.zeros(0, dtype=np.float64)

    # relative start samples, rounded from exact multiples of hop_s (no accumulated drift)
    n_full = 0 if length < win else int(math.floor((length - win) / (hop_s * sr) + 1e-9)) + 1
    rel = [int(round(i * hop_s * sr)) for i in range(n_full)]
    while rel and rel[-1] + win > length:  # rounding at the edge
        rel.pop()
    n_full = len(rel)
    nxt = int(round(n_full * hop_s * sr))
    if n_full == 0:
        rel.append(0)  # shorter than one window: exactly one padded window
    elif nxt < length and length - nxt >= win / 2.0:
        rel.append(nxt)

    out = np.zeros((len(rel), win), dtype=np.float32)
    for i, r in enumerate(rel):
        seg = x[a + r : min(b, a + r + win)]
        out[i, : seg.shape[0]] = seg
    starts = (a + np.asarray(rel, dtype=np.float64)) / float(sr)
    return out, starts
