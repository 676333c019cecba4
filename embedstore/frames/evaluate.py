"""Metrics of the frame-level tasks.

Conventions: event times in seconds from the clip start; per-frame labels as integer arrays on one frame grid.

- **Beats / downbeats**: :func:`beat_f_measure` = ``mir_eval.beat.f_measure`` with a +-70 ms window, no trimming of
  the first seconds (the clips are short). An empty reference or estimate scores 0 (mir_eval's convention), except
  that both empty scores 1.
- **Dynamics**: :func:`dynamics_macro_f1` = frame-level F1 averaged over the classes present in the reference
  (frames with reference ``< 0`` are ignored).
- **Change points**: :func:`change_point_f1` = one-to-one matching within ``tolerance`` seconds
  (``mir_eval.util.match_events``; default :data:`CHANGE_TOLERANCE_S` = 0.5 s, about one beat: the derived
  reference changes sit on beats); pooled over clips via :func:`event_counts`, since many clips have few or no
  changes. With ~5 changes per 30 s clip, a periodic guess scores about 0.3 at this tolerance (0.5 at +-1 s), so
  compare with the chance rows of the benchmark.
- **Beats at any metrical level**: :func:`beat_f_any_level` = the best :func:`beat_f_measure` over the reference
  beats and their other metrical levels (twice as fast: midpoints added; half and a third as fast: every 2nd / 3rd
  beat, each phase; three times as fast), like the "allowed metrical levels" of the continuity measures (AMLt). It
  shows how much of the beat error is the notated level alone; the headline stays :func:`beat_f_measure`.
- **Meter**: :func:`meter_of` = the most common number of beats per complete bar (beats from one downbeat up to
  the next); ``meter`` accuracy = share of clips whose estimated meter equals the reference's (an estimate without a
  complete bar counts as wrong; clips whose reference has no complete bar are skipped).
- :func:`evaluate_clips` pools a list of clips and adds percentile-bootstrap CIs (clips resampled by piece with
  :func:`embedstore.evaluation.stats.bootstrap_ci`).
"""

from __future__ import annotations

import numpy as np

from embedstore.evaluation.stats import bootstrap_ci

#: Beat / downbeat tolerance window, seconds (the usual 70 ms).
BEAT_WINDOW_S = 0.07
#: Change-point tolerance, seconds.
CHANGE_TOLERANCE_S = 0.5


def beat_f_measure(reference, estimated, *, window: float = BEAT_WINDOW_S) -> float:
    """mir_eval beat F-measure (``window`` seconds either side). Both empty -> 1.0; one empty -> 0.0."""
    import mir_eval

    r = np.sort(np.asarray(reference, dtype=np.float64))
    e = np.sort(np.asarray(estimated, dtype=np.float64))
    if len(r) == 0 and len(e) == 0:
        return 1.0
    if len(r) == 0 or len(e) == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(r, e, f_measure_threshold=window))


def metrical_levels(beats) -> list[np.ndarray]:
    """The reference beats at other metrical levels: as given, doubled (midpoints added), tripled (two points
    between each pair), halved (2 phases) and thirded (3 phases). Levels with fewer than 2 beats are left out.

    Parameters
    ----------
    beats : array-like of seconds, sorted

    Returns
    -------
    list of np.ndarray of seconds, the given beats first
    """
    b = np.sort(np.asarray(beats, dtype=np.float64))
    out = [b]
    if len(b) < 2:
        return out
    d = np.diff(b)
    out.append(np.sort(np.concatenate([b, b[:-1] + d / 2])))
    out.append(np.sort(np.concatenate([b, b[:-1] + d / 3, b[:-1] + 2 * d / 3])))
    for k in (2, 3):
        out += [b[p::k] for p in range(k) if len(b[p::k]) >= 2]
    return out


def beat_f_any_level(reference, estimated, *, window: float = BEAT_WINDOW_S) -> float:
    """The best :func:`beat_f_measure` of ``estimated`` against the reference at any of its
    :func:`metrical_levels` (seconds)."""
    return max(beat_f_measure(r, estimated, window=window) for r in metrical_levels(reference))


def meter_of(beats, downbeats) -> int | None:
    """Beats per bar: the most common count of beats in the complete bars (from a downbeat up to, not including,
    the next downbeat; downbeats are matched to the nearest beat). ``None`` without a complete bar.

    Parameters
    ----------
    beats, downbeats : array-like of seconds
    """
    b = np.sort(np.asarray(beats, dtype=np.float64))
    d = np.sort(np.asarray(downbeats, dtype=np.float64))
    if len(b) < 2 or len(d) < 2:
        return None
    pos = np.unique(np.abs(b[None, :] - d[:, None]).argmin(axis=1))
    counts = np.diff(pos)
    counts = counts[counts > 0]
    if len(counts) == 0:
        return None
    vals, n = np.unique(counts, return_counts=True)
    return int(vals[n.argmax()])


def event_counts(reference, estimated, *, window: float) -> tuple[int, int, int]:
    """(matched, n_reference, n_estimated) with one-to-one matching within ``window`` seconds."""
    import mir_eval

    r = np.sort(np.asarray(reference, dtype=np.float64))
    e = np.sort(np.asarray(estimated, dtype=np.float64))
    if len(r) == 0 or len(e) == 0:
        return 0, len(r), len(e)
    return len(mir_eval.util.match_events(r, e, window)), len(r), len(e)


def f1_from_counts(matched, n_ref, n_est) -> float:
    """Pooled F1 = 2 * matched / (n_ref + n_est) (1.0 when both are 0)."""
    m, r, e = float(np.sum(matched)), float(np.sum(n_ref)), float(np.sum(n_est))
    return 1.0 if r + e == 0 else 2.0 * m / (r + e)


def change_point_f1(reference, estimated, *, tolerance: float = CHANGE_TOLERANCE_S) -> float:
    """Change-point F1 of one clip (one-to-one matching within ``tolerance`` seconds)."""
    return f1_from_counts(*event_counts(reference, estimated, window=tolerance))


def dynamics_macro_f1(reference, estimated, *, n_levels: int = 6) -> float:
    """Frame-level macro F1 over the levels present in the reference (reference < 0 ignored).

    Same value as ``sklearn.metrics.f1_score(..., labels=present, average="macro", zero_division=0)``, computed
    from a confusion matrix (fast enough for bootstrapping pooled frames).
    """
    r = np.asarray(reference).astype(np.int64)
    e = np.asarray(estimated).astype(np.int64)
    keep = r >= 0
    r, e = r[keep], e[keep]
    if len(r) == 0:
        return float("nan")
    k = int(max(n_levels, r.max() + 1, e.max() + 1 if len(e) else 0))
    cm = np.bincount(r * k + np.clip(e, 0, k - 1), minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    n_ref, n_est = cm.sum(axis=1), cm.sum(axis=0)
    present = n_ref > 0
    denom = n_ref + n_est
    f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean())


def evaluate_clips(
    clips: list[dict],
    *,
    groups=None,
    n_boot: int = 1000,
    seed: int = 0,
    change_tolerance: float = CHANGE_TOLERANCE_S,
) -> dict:
    """Pooled metrics with bootstrap CIs over clips.

    Parameters
    ----------
    clips : list of dict
        Each with ``ref`` and ``est`` dicts holding ``beats``, ``downbeats``, ``change_points`` (seconds) and
        ``levels`` (per-frame int array, same grid). Clips whose reference lacks a key (``None``) are skipped for
        that task.
    groups : array-like, shape (n_clips,), optional
        Resampling unit of the bootstrap (the piece).

    Returns
    -------
    dict task -> :class:`~embedstore.evaluation.stats.Estimate` as a dict (``value``, ``ci_low``, ``ci_high``,
    ``n``). ``beat``/``downbeat``: mean per-clip F-measure; ``beat_any_level``: the same with
    :func:`beat_f_any_level`; ``dynamics``: macro F1 over the pooled frames;
    ``change``: pooled change-point F1 (estimate ``change_points``); ``change_from_levels``: the same with the
    estimate's ``level_changes`` (changes of the smoothed dynamics levels), when present; ``meter``: share of clips
    whose estimated beats per bar (:func:`meter_of`) equal the reference's.
    """

    n = len(clips)
    g = np.arange(n) if groups is None else np.asarray(groups)
    out = {}

    def has(i, key):
        return clips[i]["ref"].get(key) is not None and clips[i]["est"].get(key) is not None

    for task, key in (("beat", "beats"), ("downbeat", "downbeats")):
        idx = [i for i in range(n) if has(i, key)]
        if not idx:
            continue
        f = np.array([beat_f_measure(clips[i]["ref"][key], clips[i]["est"][key]) for i in idx])
        out[task] = bootstrap_ci(np.mean, f, groups=g[idx], n_boot=n_boot, seed=seed).as_dict()

    idx = [i for i in range(n) if has(i, "beats")]
    if idx:
        f = np.array([beat_f_any_level(clips[i]["ref"]["beats"], clips[i]["est"]["beats"]) for i in idx])
        out["beat_any_level"] = bootstrap_ci(np.mean, f, groups=g[idx], n_boot=n_boot, seed=seed).as_dict()

    idx = [i for i in range(n) if has(i, "beats") and has(i, "downbeats")]
    ref_m = {i: meter_of(clips[i]["ref"]["beats"], clips[i]["ref"]["downbeats"]) for i in idx}
    idx = [i for i in idx if ref_m[i] is not None]
    if idx:
        ok = np.array(
            [float(meter_of(clips[i]["est"]["beats"], clips[i]["est"]["downbeats"]) == ref_m[i]) for i in idx]
        )
        out["meter"] = bootstrap_ci(np.mean, ok, groups=g[idx], n_boot=n_boot, seed=seed).as_dict()

    idx = [i for i in range(n) if has(i, "levels") and np.any(np.asarray(clips[i]["ref"]["levels"]) >= 0)]
    if idx:
        refs = [np.asarray(clips[i]["ref"]["levels"]) for i in idx]
        ests = [np.asarray(clips[i]["est"]["levels"]) for i in idx]

        def macro(ii):
            ii = np.asarray(ii, dtype=int)
            return dynamics_macro_f1(
                np.concatenate([refs[j] for j in ii]), np.concatenate([ests[j] for j in ii])
            )

        out["dynamics"] = bootstrap_ci(
            macro, np.arange(len(idx)), groups=g[idx], n_boot=n_boot, seed=seed
        ).as_dict()

    idx = [i for i in range(n) if has(i, "change_points")]
    if idx:
        counts = np.array(
            [
                event_counts(
                    clips[i]["ref"]["change_points"],
                    clips[i]["est"]["change_points"],
                    window=change_tolerance,
                )
                for i in idx
            ]
        )

        def pooled(c):
            return f1_from_counts(c[:, 0], c[:, 1], c[:, 2])

        out["change"] = bootstrap_ci(pooled, counts, groups=g[idx], n_boot=n_boot, seed=seed).as_dict()
        # the same reference against the changes of the estimated per-beat levels, when given
        idx2 = [i for i in idx if clips[i]["est"].get("level_changes") is not None]
        if idx2:
            c2 = np.array(
                [
                    event_counts(
                        clips[i]["ref"]["change_points"],
                        clips[i]["est"]["level_changes"],
                        window=change_tolerance,
                    )
                    for i in idx2
                ]
            )
            out["change_from_levels"] = bootstrap_ci(
                pooled, c2, groups=g[idx2], n_boot=n_boot, seed=seed
            ).as_dict()
    return out
