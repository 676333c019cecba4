"""From frame activations to events and curves: peak picking, a DBN-style beat tracker, per-beat dynamics.

Conventions: activations are per-frame probabilities in [0, 1] on the grid ``i / frame_rate`` (seconds); event
times are returned in seconds, sorted, inside ``[0, n_frames / frame_rate)``.

- :func:`pick_peaks` -- local maxima above a threshold, at least ``min_distance_s`` apart (beats, downbeats,
  change points).
- :func:`track_beats` -- a dynamic Bayesian network beat tracker in the style of Krebs, Boeck & Widmer (2015)
  (madmom's ``DBNBeatTrackingProcessor``), written from the published description: hidden state = (beat interval
  in frames, position inside the beat); the position advances one frame per frame, the interval may change only at
  a beat, with probability ``exp(-lambda * |tau' / tau - 1|)``; the observation is the beat activation in the first
  ``1 / obs_lambda`` of the beat and ``(1 - a) / (obs_lambda - 1)`` elsewhere; Viterbi decoding.
- ``beat_method="madmom"`` -- madmom's DBN bar tracker (:func:`embedstore.encoders.madmom_rnn.track_downbeats`,
  optional extra) decodes beats, downbeats and the meter (2/3/4 beats per bar) jointly; its tempo range and
  tempo-change penalty come from ``thresholds`` (``min_bpm``, ``max_bpm``, ``transition_lambda``), chosen on the
  inner validation split by :func:`embedstore.frames.inference.tune_thresholds`.
- :func:`downbeats_from_beats` -- picks the bar length (2, 3 or 4 beats) and phase whose beats have the highest
  mean downbeat activation (one meter per take).
- :func:`dynamics_per_beat` -- averages the dynamics class probabilities over each beat interval and takes the most
  likely level, then a running median over beats; :func:`level_changes` gives the times where the level changes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from embedstore.encoders.madmom_rnn import track_downbeats
from embedstore.errors import ConfigError, check_choice
from embedstore.frames.evaluate import beat_f_measure
from embedstore.frames.targets import beat_grid


def pick_peaks(
    activation,
    *,
    frame_rate: float,
    threshold: float = 0.5,
    min_distance_s: float = 0.1,
    smooth_frames: int = 0,
) -> np.ndarray:
    """Times of local maxima of ``activation`` that reach ``threshold``.

    Parameters
    ----------
    activation : array-like, shape (n_frames,)
    frame_rate : float
        Frames per second.
    threshold : float
        Minimum peak height.
    min_distance_s : float
        Minimum time between two peaks, seconds (the higher one wins).
    smooth_frames : int
        Moving-average length applied first (0 or 1: none).

    Returns
    -------
    np.ndarray, shape (n_peaks,), seconds
    """
    import scipy.signal

    a = np.asarray(activation, dtype=np.float64)
    if a.ndim != 1:
        raise ConfigError(f"activation must be 1-D, got shape {a.shape}")
    if smooth_frames and smooth_frames > 1:
        a = np.convolve(a, np.ones(int(smooth_frames)) / int(smooth_frames), mode="same")
    if len(a) == 0:
        return np.zeros(0)
    dist = max(1, int(round(min_distance_s * frame_rate)))
    # pad so that a maximum at the first/last frame counts as a peak
    padded = np.concatenate([[-np.inf], a, [-np.inf]])
    idx, _ = scipy.signal.find_peaks(padded, height=threshold, distance=dist)
    return (idx - 1) / float(frame_rate)


def track_beats(
    activation,
    *,
    frame_rate: float,
    min_bpm: float = 20.0,
    max_bpm: float = 320.0,
    num_tempi: int | None = 80,
    transition_lambda: float = 100.0,
    obs_lambda: int = 16,
    threshold: float = 0.05,
) -> np.ndarray:
    """Beat times from a beat activation with a DBN (bar-pointer style) tracker and Viterbi decoding.

    Parameters
    ----------
    activation : array-like, shape (n_frames,), in [0, 1]
    frame_rate : float
    min_bpm, max_bpm : float
        Tempo range. The default is wide because annotated beats follow the notation: the beats of asap-dev run
        from 19 to 311 per minute (5th-95th percentile 35-270).
    num_tempi : int or None
        Number of beat intervals modelled, log-spaced over the range (as madmom); ``None``: every whole number
        of frames.
    transition_lambda : float
        Tempo-change penalty (higher: steadier tempo).
    obs_lambda : int
        The first ``1 / obs_lambda`` of each beat period is the "beat" region of the observation model.
    threshold : float
        Frames before the first and after the last activation above this are not tracked (no beats there).

    Returns
    -------
    np.ndarray, shape (n_beats,), seconds
    """
    a = np.clip(np.asarray(activation, dtype=np.float64), 1e-6, 1 - 1e-6)
    if a.ndim != 1:
        raise ConfigError(f"activation must be 1-D, got shape {a.shape}")
    if not 0 < min_bpm < max_bpm:
        raise ConfigError(f"invalid tempo range min_bpm={min_bpm!r}, max_bpm={max_bpm!r}")
    above = np.flatnonzero(a >= threshold)
    if len(above) < 2:
        return np.zeros(0)
    first, last = above[0], above[-1] + 1
    a = a[first:last]
    n = len(a)
    taus = np.arange(
        int(np.floor(60.0 * frame_rate / max_bpm)), int(np.ceil(60.0 * frame_rate / min_bpm)) + 1
    )
    taus = taus[taus >= 2]
    if num_tempi is not None and len(taus) > num_tempi:
        taus = np.unique(np.round(np.geomspace(taus[0], taus[-1], int(num_tempi))).astype(int))
    if len(taus) == 0:
        raise ConfigError("tempo range too fast for the frame rate")
    # flat state index: state (tau_k, phase p) at offset[k] + p
    offset = np.concatenate([[0], np.cumsum(taus)[:-1]])
    n_states = int(taus.sum())
    phase = np.concatenate([np.arange(t) for t in taus])
    tau_of = np.repeat(taus, taus)
    beat_region = phase < np.maximum(1.0, tau_of / float(obs_lambda))  # as madmom: position < 1 / obs_lambda
    first_state = offset  # phase 0 of every interval
    last_state = offset + taus - 1
    # tempo transitions at the end of a beat: from interval i to interval j
    ratio = taus[None, :] / taus[:, None]
    log_trans = -transition_lambda * np.abs(ratio - 1.0)
    log_trans -= np.logaddexp.reduce(log_trans, axis=1, keepdims=True)
    log_a, log_na = np.log(a), np.log((1.0 - a) / (obs_lambda - 1))
    # Within a beat, state s moves to s + 1 (states of one interval are contiguous); phase 0 of each interval is
    # reached from the last phase of any interval (tempo transition), which overwrites the shifted value there.
    beat_idx = np.flatnonzero(beat_region)
    gain = log_a - log_na  # extra log-likelihood of a beat state over a non-beat state
    cols = np.arange(len(taus))
    delta = log_na[0] - np.log(n_states) + np.zeros(n_states)
    delta[beat_idx] += gain[0]
    new = np.empty(n_states)
    back = np.zeros((n, len(taus)), dtype=np.int32)  # best previous interval for each phase-0 state
    for t in range(1, n):
        new[1:] = delta[:-1]
        cand = delta[last_state][:, None] + log_trans  # (from i, to j)
        best = np.argmax(cand, axis=0)
        new[first_state] = cand[best, cols]
        back[t] = best
        new += log_na[t]
        new[beat_idx] += gain[t]
        delta, new = new, delta
    # backtrack
    s = int(np.argmax(delta))
    k = int(np.searchsorted(offset, s, side="right") - 1)
    p = s - offset[k]
    beats = []
    for t in range(n - 1, -1, -1):
        if p == 0:
            beats.append(t)
            if t > 0:
                k = int(back[t, k])
                p = taus[k] - 1
        else:
            p -= 1
    beats = np.asarray(beats[::-1], dtype=np.float64)
    # refine each beat to the activation maximum within +-2 frames (the beat region is 1-2 frames wide)
    refined = []
    for b in beats.astype(int):
        lo, hi = max(0, b - 2), min(n, b + 3)
        refined.append(lo + int(np.argmax(a[lo:hi])))
    out = (np.unique(refined) + first) / float(frame_rate)
    return out


def downbeats_from_beats(
    beats, downbeat_activation, *, frame_rate: float, beats_per_bar=(2, 3, 4)
) -> np.ndarray:
    """Downbeats as every ``m``-th beat from phase ``p``, the (m, p) with the highest mean downbeat activation.

    Parameters
    ----------
    beats : array-like, shape (n_beats,), seconds
    downbeat_activation : array-like, shape (n_frames,)
    frame_rate : float
    beats_per_bar : tuple of int
        Candidate bar lengths.

    Returns
    -------
    np.ndarray, shape (n_downbeats,), seconds (a subset of ``beats``)
    """
    b = np.asarray(beats, dtype=np.float64)
    d = np.asarray(downbeat_activation, dtype=np.float64)
    if len(b) == 0 or len(d) == 0:
        return np.zeros(0)
    idx = np.clip(np.round(b * frame_rate).astype(int), 0, len(d) - 1)
    # activation at each beat: maximum within +-1 frame
    act = np.maximum.reduce([d[np.clip(idx + j, 0, len(d) - 1)] for j in (-1, 0, 1)])
    best, best_score = (beats_per_bar[0], 0), -np.inf
    for m in beats_per_bar:
        for p in range(min(m, len(b))):
            score = act[p::m].mean() - act.mean()  # contrast with the other beats
            # prefer fewer beats per bar only on a clear win; ties go to the longer bar (more common in piano)
            if score > best_score + 1e-9:
                best, best_score = (m, p), score
    m, p = best
    return b[p::m]


def dynamics_per_beat(
    probs, beats, *, frame_rate: float, median_beats: int = 3, fallback_s: float = 0.5
) -> np.ndarray:
    """Per-frame dynamics level, constant within each beat interval.

    Parameters
    ----------
    probs : array-like, shape (n_frames, n_levels)
        Class probabilities per frame.
    beats : array-like, shape (n_beats,), seconds
        Interval boundaries (a regular ``fallback_s`` grid when fewer than 2 beats).
    frame_rate : float
    median_beats : int
        Running median of the per-beat levels (1: none).

    Returns
    -------
    np.ndarray, shape (n_frames,), int64
    """
    import scipy.ndimage

    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ConfigError(f"probs must have shape (n_frames, n_levels), got {p.shape}")
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    duration = n / float(frame_rate)
    b = np.asarray(beats, dtype=np.float64)
    grid = beat_grid(b if len(b) >= 2 else None, duration, fallback_s=fallback_s)
    starts = np.clip(np.round(grid * frame_rate).astype(int), 0, n)
    ends = np.concatenate([starts[1:], [n]])
    levels = np.array([int(np.argmax(p[s:e].mean(axis=0))) if e > s else -1 for s, e in zip(starts, ends)])
    valid = levels >= 0
    if valid.any():
        lv = levels[valid]
        if median_beats > 1:
            lv = scipy.ndimage.median_filter(lv, size=int(median_beats), mode="nearest")
        levels[valid] = lv
    out = np.zeros(n, dtype=np.int64)
    for s, e, lv in zip(starts, ends, levels):
        if e > s:
            out[s:e] = max(lv, 0)
    return out


def level_changes(levels, *, frame_rate: float) -> np.ndarray:
    """Times (seconds) of the frames where a per-frame level sequence changes."""
    lv = np.asarray(levels)
    return (np.flatnonzero(np.diff(lv) != 0) + 1) / float(frame_rate)


#: Beat decoders of :func:`events_from_activations`.
BEAT_METHODS = ("dbn", "peaks", "madmom")
#: Defaults of madmom's DBN bar tracker as used here (madmom's own tempo range is 55-215 beats/min).
MADMOM_DBN_DEFAULTS = {"min_bpm": 55.0, "max_bpm": 215.0, "transition_lambda": 100.0}


def dbn_options(thresholds: dict) -> dict:
    """The madmom DBN options (``min_bpm``, ``max_bpm``, ``transition_lambda``) from a thresholds dict."""
    return {k: float(thresholds.get(k, v)) for k, v in MADMOM_DBN_DEFAULTS.items()}


def events_from_activations(
    act: dict,
    *,
    frame_rate: float,
    thresholds: dict | None = None,
    beat_method: Literal["dbn", "peaks", "madmom"] = "dbn",
) -> dict:
    """All outputs of a frame model from its activations.

    Parameters
    ----------
    act : dict
        ``dynamics`` (n_frames, 6) probabilities; ``beat``, ``downbeat``, ``change`` (n_frames,) probabilities.
    thresholds : dict
        Peak-picking thresholds per task (``beat``, ``downbeat``, ``change``); default 0.5.
    beat_method : {"dbn", "peaks", "madmom"}
        ``dbn``: :func:`track_beats` then :func:`downbeats_from_beats`; ``peaks``: peak picking for both;
        ``madmom``: madmom's joint beat/downbeat DBN (extra ``madmom``; ``thresholds`` may hold ``min_bpm``,
        ``max_bpm``, ``transition_lambda``).

    Returns
    -------
    dict with ``beats``, ``downbeats``, ``change_points`` (seconds; peaks of the change-point head),
    ``level_changes`` (seconds; where the per-beat dynamics level changes) and ``levels`` (n_frames,) int64.
    """
    check_choice("beat_method", beat_method, BEAT_METHODS)
    th = {"beat": 0.5, "downbeat": 0.5, "change": 0.5}
    th.update(thresholds or {})
    if beat_method == "madmom":
        beats, downbeats = track_downbeats(
            act["beat"], act["downbeat"], frame_rate=frame_rate, **dbn_options(th)
        )
    elif beat_method == "dbn":
        beats = track_beats(act["beat"], frame_rate=frame_rate)
        downbeats = downbeats_from_beats(beats, act["downbeat"], frame_rate=frame_rate)
    else:
        beats = pick_peaks(act["beat"], frame_rate=frame_rate, threshold=th["beat"], min_distance_s=0.2)
        downbeats = pick_peaks(
            act["downbeat"], frame_rate=frame_rate, threshold=th["downbeat"], min_distance_s=0.8
        )
    change = pick_peaks(act["change"], frame_rate=frame_rate, threshold=th["change"], min_distance_s=1.0)
    levels = dynamics_per_beat(act["dynamics"], beats, frame_rate=frame_rate)
    return {
        "beats": beats,
        "downbeats": downbeats,
        "change_points": change,
        "levels": levels,
        "level_changes": level_changes(levels, frame_rate=frame_rate),
    }


#: Candidate madmom DBN settings tried on the inner validation split: (min_bpm, max_bpm, transition_lambda).
DBN_GRID = ((55.0, 215.0, 100.0), (40.0, 240.0, 30.0), (30.0, 300.0, 10.0), (40.0, 240.0, 100.0))


def tune_dbn(beat_acts, downbeat_acts, refs: list[dict], frame_rate: float, grid=DBN_GRID) -> dict:
    """The madmom DBN setting of ``grid`` with the best mean of beat and downbeat F-measure on the given clips.

    Parameters
    ----------
    beat_acts, downbeat_acts : list of np.ndarray, shape (n_frames,) each
    refs : list of dict with ``beats`` and ``downbeats`` (seconds; ``None`` where unknown)

    Returns
    -------
    dict with ``min_bpm``, ``max_bpm``, ``transition_lambda``
    """

    use = [i for i, r in enumerate(refs) if r.get("beats") is not None]
    best, best_score = grid[0], -1.0
    for lo, hi, lam in grid:
        scores = []
        for i in use:
            b, d = track_downbeats(
                beat_acts[i],
                downbeat_acts[i],
                frame_rate=frame_rate,
                min_bpm=lo,
                max_bpm=hi,
                transition_lambda=lam,
            )
            scores.append(
                0.5 * (beat_f_measure(refs[i]["beats"], b) + beat_f_measure(refs[i]["downbeats"], d))
            )
        score = float(np.mean(scores)) if scores else 0.0
        if score > best_score + 1e-9:
            best, best_score = (lo, hi, lam), score
    return {"min_bpm": best[0], "max_bpm": best[1], "transition_lambda": best[2]}
