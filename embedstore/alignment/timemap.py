"""Time maps: a monotone correspondence between the time lines of two recordings.

Task
    Carry a time in recording A to the corresponding time in recording B (and back). A :class:`TimeMap` is a list
    of anchor pairs ``(a_k, b_k)``, strictly increasing in both coordinates, with linear interpolation between
    anchors, so the map is monotone and invertible on its range.

Conventions
    - Times are seconds from the start of each recording.
    - ``a[0] .. a[-1]`` is the *valid range*: where the alignment says something. Outside it, ``outside``
      decides: ``"extrapolate"`` (continue with the mean slope of the whole map), ``"clip"`` (hold the end
      values) or ``"nan"``.
    - JSON: ``{"a": [...], "b": [...], "meta": {...}}``; CSV: a header ``time_a,time_b`` and one anchor per
      line (seconds, 4 decimals).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError, check_choice
from embedstore.utils import dumps

__all__ = ["TimeMap", "OUTSIDE"]

#: What a map does with times outside its valid range.
OUTSIDE = ("extrapolate", "clip", "nan")
Outside = Literal["extrapolate", "clip", "nan"]


def _strictly_monotone(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse runs of equal ``a`` (mean ``b``) and then runs of equal ``b`` (mean ``a``)."""
    ua, inv = np.unique(a, return_inverse=True)
    mb = np.bincount(inv, weights=b) / np.bincount(inv)
    mb = np.maximum.accumulate(mb)  # guard against float noise
    ub, inv2 = np.unique(mb, return_inverse=True)
    ma = np.bincount(inv2, weights=ua) / np.bincount(inv2)
    return ma, ub


@dataclass(frozen=True)
class TimeMap:
    """Monotone piecewise-linear map from A's time line to B's.

    Attributes
    ----------
    a, b : np.ndarray, shape (k,), float64
        Anchor times (s), strictly increasing, ``k >= 2``.
    meta : dict
        Free-form description (recordings, cost, confidence...), written with the map.
    """

    a: np.ndarray
    b: np.ndarray
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        a = np.asarray(self.a, dtype=np.float64)
        b = np.asarray(self.b, dtype=np.float64)
        if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
            raise ConfigError(
                f"a time map needs two equally long 1-D anchor arrays (>= 2), got {a.shape}/{b.shape}"
            )
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise ConfigError("time map anchors must be finite")
        if np.any(np.diff(a) <= 0) or np.any(np.diff(b) <= 0):
            raise ConfigError("time map anchors must be strictly increasing in both recordings")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_path(
        cls, path: np.ndarray, rate_a: float, rate_b: float | None = None, *, meta: dict | None = None
    ) -> TimeMap:
        """A map from a warping path of frame indices.

        Horizontal and vertical runs of the path are collapsed to their midpoints so that the anchors are
        strictly monotone.

        Parameters
        ----------
        path : np.ndarray, shape (L, 2), int
            ``(frame in A, frame in B)`` pairs, non-decreasing in both columns.
        rate_a, rate_b : float
            Frame rates (frames/s); ``rate_b`` defaults to ``rate_a``.
        """
        p = np.asarray(path, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 1:
            raise ConfigError(f"path must have shape (L, 2), got {p.shape}")
        if np.any(np.diff(p, axis=0) < 0):
            raise ConfigError("path must be non-decreasing in both columns")
        a, b = _strictly_monotone(p[:, 0] / rate_a, p[:, 1] / (rate_b or rate_a))
        if len(a) < 2:
            raise ConfigError("the path is too short to define a time map", hint="align longer recordings")
        return cls(a, b, dict(meta or {}))

    @classmethod
    def linear(cls, a0: float, a1: float, b0: float, b1: float, *, meta: dict | None = None) -> TimeMap:
        """The straight map taking ``[a0, a1]`` onto ``[b0, b1]``."""
        return cls(np.array([a0, a1]), np.array([b0, b1]), dict(meta or {}))

    # ------------------------------------------------------------------ use
    @property
    def valid_a(self) -> tuple[float, float]:
        """Range of A's times the alignment covers, seconds."""
        return float(self.a[0]), float(self.a[-1])

    @property
    def valid_b(self) -> tuple[float, float]:
        """Range of B's times the alignment covers, seconds."""
        return float(self.b[0]), float(self.b[-1])

    @property
    def slope(self) -> float:
        """Mean slope ``db / da`` over the valid range (B's duration per second of A)."""
        return float((self.b[-1] - self.b[0]) / (self.a[-1] - self.a[0]))

    def __call__(self, t: ArrayLike, *, outside: Outside = "extrapolate") -> np.ndarray:
        """Map times of A to times of B.

        Parameters
        ----------
        t : float or array of float
            Seconds in A.
        outside : {"extrapolate", "clip", "nan"}
            Treatment of times outside :attr:`valid_a`.

        Returns
        -------
        np.ndarray (same shape as ``t``), seconds in B
        """
        check_choice("outside", outside, OUTSIDE)
        x = np.asarray(t, dtype=np.float64)
        y = np.interp(x, self.a, self.b)
        lo, hi = x < self.a[0], x > self.a[-1]
        if outside == "extrapolate":
            s = self.slope
            y = np.where(lo, self.b[0] + (x - self.a[0]) * s, y)
            y = np.where(hi, self.b[-1] + (x - self.a[-1]) * s, y)
        elif outside == "nan":
            y = np.where(lo | hi, np.nan, y)
        return y

    def inverse(self) -> TimeMap:
        """The map from B to A."""
        return TimeMap(self.b.copy(), self.a.copy(), dict(self.meta))

    def compose(self, other: TimeMap) -> TimeMap:
        """``other`` after ``self``: A -> B -> C, on the part of A whose image lies in other's valid range."""
        b_lo, b_hi = other.valid_a
        keep = (self.b >= b_lo) & (self.b <= b_hi)
        a = self.a[keep]
        extra = other.a[(other.a > self.b[0]) & (other.a < self.b[-1])]
        a = np.union1d(a, self.inverse()(extra))
        a = a[(a >= self.a[0]) & (a <= self.a[-1])]
        c = other(self(a))
        a2, c2 = _strictly_monotone(a, c)
        return TimeMap(a2, c2, {"composed": [self.meta, other.meta]})

    def local_slope(self, t: ArrayLike, *, width_s: float = 1.0) -> np.ndarray:
        """Slope ``db / da`` around times of A, as a centred difference over ``width_s`` seconds."""
        x = np.asarray(t, dtype=np.float64)
        h = width_s / 2.0
        return (self(x + h) - self(x - h)) / (2 * h)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """``{"a": [...], "b": [...], "meta": {...}}`` with times rounded to 0.1 ms."""
        return {"a": np.round(self.a, 4).tolist(), "b": np.round(self.b, 4).tolist(), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> TimeMap:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(np.asarray(d["a"], float), np.asarray(d["b"], float), dict(d.get("meta") or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"not a time map: {e}") from e

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON."""
        p = Path(path)
        p.write_text(dumps(self.to_dict()) + "\n")
        return p

    @classmethod
    def from_json(cls, path: str | Path) -> TimeMap:
        """Read a map written by :meth:`to_json`."""
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not JSON: {e}") from e
        return cls.from_dict(d)

    def to_csv(self, path: str | Path) -> Path:
        """Write ``time_a,time_b`` rows (seconds, 4 decimals)."""
        p = Path(path)
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time_a", "time_b"])
            for x, y in zip(self.a, self.b):
                w.writerow([f"{x:.4f}", f"{y:.4f}"])
        return p

    @classmethod
    def from_csv(cls, path: str | Path) -> TimeMap:
        """Read a map written by :meth:`to_csv`."""
        with Path(path).open(newline="") as f:
            rows = list(csv.DictReader(f))
        try:
            a = [float(r["time_a"]) for r in rows]
            b = [float(r["time_b"]) for r in rows]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: expected columns time_a,time_b with numbers ({e})") from e
        return cls(np.asarray(a), np.asarray(b))
