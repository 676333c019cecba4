"""Header inspection: what a file holds (rate, length, channels, format) without decoding the samples.

libsndfile (``soundfile``) is asked first, then FFmpeg (PyAV). WAV/AIFF headers are also parsed by hand to find
files whose data chunk is shorter than the header declares (an interrupted copy). Durations are seconds, rates Hz.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from embedstore.audio.formats import sniff_container
from embedstore.audio.validate import audio_error, check_readable

__all__ = ["probe_audio", "declared_data_bytes", "probe_soundfile", "probe_av"]

#: FFmpeg container names shown as the probe's ``format``.
_AV_FORMATS = {"mov": "MP4", "matroska": "MATROSKA", "asf": "ASF", "aac": "AAC", "ogg": "OGG"}


def declared_data_bytes(path: str | os.PathLike, size: int) -> tuple[int, int] | None:
    """The audio data a RIFF/WAVE or AIFF header declares, and how much of it the file holds.

    Parameters
    ----------
    path : str or os.PathLike
    size : int
        The file's size in bytes.

    Returns
    -------
    (declared, available) : tuple of int, or None
        Bytes of sample data the header declares and bytes present after the data chunk's start; ``None`` for
        other formats, unparseable headers and streamed files (unknown length).
    """
    try:
        with open(path, "rb") as f:
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


def probe_soundfile(path: str | os.PathLike) -> dict[str, Any] | None:
    """Header information as libsndfile reads it (keys as in :func:`probe_audio`); ``None`` if it cannot."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
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


def probe_av(path: str | os.PathLike) -> dict[str, Any] | None:
    """Header information of the first audio stream as FFmpeg reads it; ``None`` if it cannot."""
    import av

    try:
        with av.open(str(path)) as c:
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
            name = c.format.name.split(",")[0]
            return {
                "sample_rate": rate,
                "frames": None if dur is None else int(round(dur * rate)),
                "channels": channels,
                "duration_s": dur,
                "format": _AV_FORMATS.get(name, name.upper()),
                "subtype": s.codec_context.name,
                "backend": "av",
            }
    except Exception:
        return None


def probe_audio(path: str | os.PathLike) -> dict[str, Any]:
    """Cheap header information, without decoding the samples.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``sample_rate`` (int, Hz), ``frames`` (int, or None when the container does not say), ``channels``
        (int), ``duration_s`` (float or None), ``format`` (e.g. ``'WAV'``, ``'FLAC'``, ``'MP4'``), ``subtype``
        (sample format or codec), ``backend`` (``'soundfile'`` or ``'av'``), ``size_bytes``, and ``truncated``
        (bool: a WAV/AIFF whose data chunk is shorter than its header declares; then also ``declared_bytes``
        and ``available_bytes``).

    Raises
    ------
    AudioError
        ``missing``, ``unreadable``, ``empty``, ``not_audio`` or ``corrupt`` (a known container that no decoder
        can open).
    """
    p = check_readable(path)
    size = p.stat().st_size
    info = probe_soundfile(p) or probe_av(p)
    if info is None:
        kind = sniff_container(p)
        if kind is not None:
            raise audio_error(
                "corrupt", f"damaged {kind} file (neither libsndfile nor FFmpeg can open it): {p}", p
            )
        raise audio_error(
            "not_audio", f"not an audio file (neither libsndfile nor FFmpeg can open it): {p}", p
        )
    info["size_bytes"] = int(size)
    info["truncated"] = False
    riff = declared_data_bytes(p, size)
    if riff is not None:
        declared, available = riff
        info["truncated"] = available < declared
        info["declared_bytes"] = int(declared)
        info["available_bytes"] = int(available)
    return info
