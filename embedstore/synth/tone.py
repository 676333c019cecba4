"""The piano-like tone of the synthetic collection: decaying inharmonic partials per key (:func:`tone`).

Units: MIDI pitch and velocity; levels in dB; times in seconds or samples as named; sample rates in Hz. Loudness
follows velocity: amplitude ~ (velocity / 127) ** 2, i.e. 40 * log10(velocity / 127) dB.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["velocity_to_db", "db_to_velocity", "smooth_noise", "tone", "clear_cache"]


def velocity_to_db(v: ArrayLike) -> np.ndarray:
    """Level (dB re velocity 127) of MIDI velocities: ``40 log10(v / 127)``, velocities clipped to [1, 127]."""
    return np.asarray(40.0 * np.log10(np.clip(v, 1.0, 127.0) / 127.0))


def db_to_velocity(db: ArrayLike) -> np.ndarray:
    """MIDI velocities (float, clipped to [1, 127]) of levels in dB re velocity 127."""
    return np.asarray(np.clip(127.0 * 10.0 ** (np.asarray(db) / 40.0), 1.0, 127.0))


def smooth_noise(rng: np.random.Generator, n: int, rho: float = 0.7) -> np.ndarray:
    """Unit-variance AR(1) noise of ``n`` steps with lag-1 correlation ``rho``, shape (n,)."""
    e = rng.standard_normal(n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = rho * acc + math.sqrt(1 - rho * rho) * e[i]
        out[i] = acc
    return out


_BANK_S = 2.0  # cached length of each key's partials; longer notes are synthesised directly
_N_PARTIALS = 10


def _tau1(pitch: int) -> float:
    """Decay time constant of the fundamental, seconds: long in the bass, short in the treble."""
    return float(np.clip(5.0 * 2.0 ** (-(pitch - 36) / 16.0), 0.25, 6.0))


def _partials(pitch: int, sr: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Decaying inharmonic partials of one key, shape (partials, length), float32, plus partial numbers.

    Stretched partials ``f_k = k f0 sqrt(1 + B k^2)`` with B growing towards the treble; each partial decays
    exponentially, faster for higher keys and higher partials. Phases are fixed per key (like a sampler).
    """
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    b_inh = 1.2e-4 * 2.0 ** ((pitch - 48) / 18.0)
    k = np.arange(1, _N_PARTIALS + 1, dtype=np.float64)
    fk = k * f0 * np.sqrt(1.0 + b_inh * k * k)
    keep = fk < 0.45 * sr
    k, fk = k[keep], fk[keep]
    if k.size == 0:
        k, fk = np.array([1.0]), np.array([min(f0, 0.45 * sr)])
    tauk = _tau1(pitch) / (1.0 + 0.35 * (k - 1.0) * (1.0 + f0 / 1500.0))
    t = np.arange(length, dtype=np.float64) / sr
    phase = np.random.default_rng(pitch).uniform(0, 2 * np.pi, size=k.size)
    bank = np.exp(-np.outer(1.0 / tauk, t)) * np.sin(np.outer(2 * np.pi * fk, t) + phase[:, None])
    att = max(1, int(0.002 * sr))
    bank[:, :att] *= np.linspace(0.0, 1.0, min(att, length), endpoint=False)
    return bank.astype(np.float32), k


@functools.lru_cache(maxsize=48)
def _partial_bank(pitch: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_partials` for the first ``_BANK_S`` seconds (or until -43 dB), cached per key (~2 MB each)."""
    bank, k = _partials(pitch, sr, int(min(_BANK_S, 5.0 * _tau1(pitch)) * sr))
    bank.setflags(write=False)
    return bank, k


def tone(
    pitch: int, velocity: float, length: int, hold: int, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """One piano-like note: partials weighted by a velocity-dependent spectral tilt (louder = brighter), a damper
    release after ``hold`` samples and a short hammer knock.

    Parameters
    ----------
    pitch : int
        MIDI pitch.
    velocity : float
        MIDI velocity (1-127); sets the brightness, not the level (the caller scales the level).
    length, hold : int
        Samples to render, and samples until the key is let go.
    sr : int
        Sample rate, Hz.
    rng : numpy.random.Generator
        Draws the hammer knock.

    Returns
    -------
    np.ndarray, shape (length,), float64
        Unit-power partials (before the release) plus the knock.
    """
    bank, k = _partial_bank(int(pitch), int(sr))
    natural = int(5.0 * _tau1(pitch) * sr)  # the fundamental has decayed by 43 dB
    if length > bank.shape[1] and natural > bank.shape[1]:  # a long held note
        bank, k = _partials(int(pitch), int(sr), min(length, natural))
    v = velocity / 127.0
    ak = k ** -(1.6 - 1.0 * v)
    ak[1::2] *= 0.8
    ak /= np.sqrt(np.sum(ak * ak))  # unit power: brightness changes the timbre, not the level
    n = min(length, bank.shape[1])
    y = np.zeros(length, dtype=np.float64)
    y[:n] = ak.astype(np.float32) @ bank[:, :n]
    if hold < length:  # damper: fast release after the key is let go
        y[hold:] *= np.exp(-np.arange(length - hold) / (0.07 * sr))
    nk = min(length, int(0.006 * sr))
    y[:nk] += 0.08 * v * rng.standard_normal(nk) * np.exp(-np.arange(nk) / (0.0015 * sr))
    return y


def clear_cache() -> None:
    """Release the cached partials of every key (tens of MB)."""
    _partial_bank.cache_clear()
