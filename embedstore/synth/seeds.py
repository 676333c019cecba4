"""Deterministic randomness of the synthetic collection: generators seeded from a seed and names.

A name enters the seed through its CRC-32 (never Python's salted ``hash``), so a piece id or performer code
draws the same numbers in every process.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["crc32", "seeded_rng"]


def crc32(s: str) -> int:
    """CRC-32 of a string's UTF-8 bytes, as an unsigned int."""
    return zlib.crc32(s.encode("utf-8")) & 0xFFFFFFFF


def seeded_rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded from integers and names (names through :func:`crc32`).

    Parameters
    ----------
    *parts : int or str
        E.g. ``(seed, "piece", piece_id)``.

    Returns
    -------
    numpy.random.Generator
    """
    seq = [p if isinstance(p, int) else crc32(str(p)) for p in parts]
    return np.random.default_rng([abs(int(s)) for s in seq])
