"""A corpus of bad and odd inputs for the whole ``index`` pipeline, each with the outcome it must have.

:func:`write_odd_corpus` writes a folder of more than 25 kinds of file (broken audio, odd but valid audio, things that
are not files, awkward names) and returns what ``index`` must do with each: index it, reject it (with which
reasons), skip it (not a regular file) or report it as a duplicate. Used by ``tests/test_input_corpus.py`` and
``bench/bench_reliability.py``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore import config


@dataclass
class OddInput:
    """One kind of input.

    Attributes
    ----------
    kind : str
        What it is, e.g. ``"truncated OGG at 50 %"``.
    name : str
        File name inside the corpus folder (may hold bytes that are not UTF-8, see ``raw_name``).
    expect : str
        ``indexed``, ``rejected``, ``skipped`` or ``duplicate``.
    reasons : tuple of str
        Accepted reject reasons (for ``rejected``).
    raw_name : bytes or None
        The file name as bytes when it is not valid UTF-8.
    """

    kind: str
    name: str
    expect: str
    reasons: tuple[str, ...] = ()
    raw_name: bytes | None = None


def _tone(sr: int, seconds: float, *, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A decaying chord with a little noise, (n,) or (n, channels) float32 in [-1, 1]."""
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(seed)
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * np.exp(-0.3 * t)
    x = (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def _wav_header(sr: int, channels: int, bits: int, n_bytes: int) -> bytes:
    """A PCM WAV header (44 bytes) declaring ``n_bytes`` of data."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + n_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, bits)
        + b"data"
        + struct.pack("<I", n_bytes)
    )


def write_odd_corpus(folder: str | os.PathLike, *, seconds: float = 9.0) -> list[OddInput]:
    """Write the corpus into ``folder`` (created); return every input with its expected outcome.

    Parameters
    ----------
    folder : str or os.PathLike
    seconds : float
        Length of the valid clips (use an index window shorter than this). Index with ``max_duration_s`` of
        ``3 * seconds``: one file is longer than that.

    Returns
    -------
    list of OddInput
    """
    import soundfile as sf

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    sr = config.DEFAULT_SAMPLE_RATE
    x = _tone(sr, seconds)
    out: list[OddInput] = []

    def add(kind: str, name: str, expect: str, *reasons: str) -> None:
        out.append(OddInput(kind, name, expect, tuple(reasons)))

    def truncated(src_name: str, fmt: str, subtype: str | None, frac: float, name: str) -> bytes:
        sf.write(str(d / src_name), x, sr, format=fmt, subtype=subtype)
        raw = (d / src_name).read_bytes()
        (d / src_name).unlink()
        (d / name).write_bytes(raw[: int(len(raw) * frac)])
        return raw

    # --- good reference and odd-but-valid audio
    sf.write(str(d / "good.flac"), x, sr)
    add("valid FLAC", "good.flac", "indexed")
    sf.write(str(d / "pcm24.wav"), _tone(sr, seconds, seed=1), sr, subtype="PCM_24")
    add("24-bit WAV", "pcm24.wav", "indexed")
    sf.write(str(d / "float64.wav"), _tone(sr, seconds, seed=2).astype(np.float64), sr, subtype="DOUBLE")
    add("float64 WAV", "float64.wav", "indexed")
    sf.write(str(d / "sr8k.wav"), _tone(8000, seconds, seed=3), 8000)
    add("8 kHz WAV", "sr8k.wav", "indexed")
    sf.write(str(d / "sr192k.wav"), _tone(192000, seconds, seed=4), 192000)
    add("192 kHz WAV", "sr192k.wav", "indexed")
    sf.write(str(d / "eight_channels.wav"), _tone(sr, seconds, channels=8, seed=5), sr)
    add("8 channels", "eight_channels.wav", "indexed")
    sf.write(str(d / "line\nbreak.wav"), _tone(sr, seconds, seed=6), sr)
    add("newline in the file name", "line\nbreak.wav", "indexed")
    sf.write(str(d / "good.ogg"), _tone(sr, seconds, seed=7), sr, format="OGG", subtype="VORBIS")
    add("valid OGG Vorbis", "good.ogg", "indexed")
    (d / "good_copy.flac").write_bytes((d / "good.flac").read_bytes())
    add("duplicate content under a second name", "good_copy.flac", "duplicate")
    raw_name = b"caf\xe9 latin1.wav"
    sf.write(str(d / "tmp_name.wav"), _tone(sr, seconds, seed=8), sr)
    os.rename(d / "tmp_name.wav", os.path.join(os.fsencode(d), raw_name))
    out.append(
        OddInput("non-UTF-8 file name", os.fsdecode(raw_name), "rejected", ("bad_file_name",), raw_name)
    )

    # --- broken audio
    (d / "empty.wav").write_bytes(b"")
    add("empty file", "empty.wav", "rejected", "empty")
    (d / "header_only.wav").write_bytes(_wav_header(sr, 1, 16, 0))
    add("WAV header only", "header_only.wav", "rejected", "empty", "too_short", "corrupt", "not_audio")
    for frac in (0.1, 0.5, 0.9):
        pcm = (x * 32767).astype("<i2").tobytes()
        n = int(len(pcm) * frac) // 2 * 2
        (d / f"trunc{int(frac * 100)}.wav").write_bytes(_wav_header(sr, 1, 16, len(pcm)) + pcm[:n])
        add(f"WAV truncated at {int(frac * 100)} %", f"trunc{int(frac * 100)}.wav", "rejected", "truncated")
    for frac in (0.5, 0.9):
        truncated("src.flac", "FLAC", None, frac, f"trunc{int(frac * 100)}.flac")
        add(
            f"FLAC truncated at {int(frac * 100)} %",
            f"trunc{int(frac * 100)}.flac",
            "rejected",
            "truncated",
            "corrupt",
        )
    truncated("src.ogg", "OGG", "VORBIS", 0.5, "trunc50.ogg")
    add("OGG Vorbis truncated at 50 %", "trunc50.ogg", "rejected", "truncated", "corrupt")
    truncated("src.mp3", "MP3", "MPEG_LAYER_III", 0.02, "trunc2.mp3")
    add(
        "MP3 cut to its first 2 %", "trunc2.mp3", "rejected", "too_short", "truncated", "corrupt", "not_audio"
    )
    rng = np.random.default_rng(0)
    (d / "noise_bytes.wav").write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    add("random bytes named .wav", "noise_bytes.wav", "rejected", "not_audio", "corrupt")
    (d / "notes.mp3").write_text("my notes about the recital\n" * 50)
    add("text named .mp3", "notes.mp3", "rejected", "not_audio", "corrupt")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (d / "picture.flac").write_bytes(png)
    add("PNG renamed .flac", "picture.flac", "rejected", "not_audio", "corrupt")
    pcm = (x * 32767).astype("<i2").tobytes()
    (d / "rate_zero.wav").write_bytes(_wav_header(0, 1, 16, len(pcm)) + pcm)
    add("sample rate 0", "rate_zero.wav", "rejected", "not_audio", "corrupt")
    (d / "rate_absurd.wav").write_bytes(_wav_header(2_000_000_000, 1, 16, len(pcm)) + pcm)
    add("sample rate 2 GHz", "rate_absurd.wav", "rejected", "not_audio", "corrupt", "too_short")
    (d / "zero_channels.wav").write_bytes(_wav_header(sr, 0, 16, len(pcm)) + pcm)
    add("0 channels", "zero_channels.wav", "rejected", "not_audio", "corrupt")
    nan = x.copy()
    nan[1000:1100] = np.nan
    sf.write(str(d / "nan.wav"), nan, sr, subtype="FLOAT")
    add("NaN samples", "nan.wav", "rejected", "non_finite")
    inf = x.copy()
    inf[500] = np.inf
    sf.write(str(d / "inf.wav"), inf, sr, subtype="FLOAT")
    add("infinite samples", "inf.wav", "rejected", "non_finite")
    sf.write(str(d / "silence.wav"), np.zeros_like(x), sr)
    add("digital silence", "silence.wav", "rejected", "silent")
    sf.write(str(d / "dc.wav"), np.full_like(x, 0.25), sr)
    add("DC offset only", "dc.wav", "rejected", "silent")
    sf.write(str(d / "blip.wav"), x[: sr // 20], sr)
    add("50 ms", "blip.wav", "rejected", "too_short")
    sf.write(str(d / "too_long.flac"), _tone(sr, 4 * seconds, seed=9), sr)
    add("longer than max_duration_s", "too_long.flac", "rejected", "too_long")

    # --- not regular files
    (d / "folder.wav").mkdir()
    add("directory named .wav", "folder.wav", "skipped")
    os.mkfifo(d / "pipe.wav")
    add("FIFO named .wav", "pipe.wav", "skipped")
    os.symlink("loop_b.wav", d / "loop_a.wav")
    os.symlink("loop_a.wav", d / "loop_b.wav")
    add("symlink loop (a)", "loop_a.wav", "skipped")
    add("symlink loop (b)", "loop_b.wav", "skipped")
    os.symlink("does_not_exist.wav", d / "dangling.wav")
    add("dangling symlink", "dangling.wav", "skipped")
    return out
