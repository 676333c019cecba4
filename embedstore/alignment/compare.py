"""Compare performances of one piece by their interpretation curves (consensus-relative tempo and loudness).

Every performance is aligned to the query (the reference); tempo and loudness are read on a grid every
``grid_s`` seconds of the query and taken relative to the consensus of all the performances
(:func:`embedstore.alignment.curves.relative_to_consensus`), so what the piece dictates cancels. A performance's
score is the mean of its log-tempo and loudness curve correlations with the query's (Pearson; the Mazurka
project's comparison of tempo and dynamics curves).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from embedstore.alignment.curves import (
    curve_correlation,
    interpretation_curves,
    relative_to_consensus,
    uniform_grid,
)
from embedstore.alignment.sequence import FrameFeatures
from embedstore.alignment.sync import align_features
from embedstore.alignment.timemap import TimeMap
from embedstore.errors import ConfigError

__all__ = ["rank_by_curves"]


def rank_by_curves(
    query: str, performances: Mapping[str, FrameFeatures], *, grid_s: float = 1.0, onset_weight: float = 1.0
) -> list[dict]:
    """Rank the other performances of a piece by curve correlation with the query.

    Parameters
    ----------
    query : str
        Key of the query in ``performances``.
    performances : mapping str -> FrameFeatures
        The piece's performances (the query included), all at one frame rate.
    grid_s : float
        Grid step on the query, seconds.
    onset_weight : float
        Onset cost weight of the alignment (ignored where the features carry no onsets).

    Returns
    -------
    list of dict
        ``key``, ``score``, ``tempo_corr``, ``loudness_corr`` (NaN when undefined), best first.
    """
    if query not in performances:
        raise ConfigError(f"the query {query!r} is not among the performances")
    fq = performances[query]
    grid = uniform_grid(0.0, fq.duration_s, grid_s)
    keys = list(performances)
    curves = []
    for key in keys:
        f = performances[key]
        if key == query:
            tm = TimeMap.linear(0.0, fq.duration_s, 0.0, fq.duration_s)
        else:
            w = onset_weight if (fq.onsets is not None and f.onsets is not None) else 0.0
            tm = align_features(fq, f, onset_weight=w).time_map
        curves.append(interpretation_curves(tm, grid, f.loudness, f.frame_rate, unit="reference"))
    rel = dict(zip(keys, relative_to_consensus(curves)))
    q = rel[query]
    out: list[dict] = []
    for key in keys:
        if key == query:
            continue
        tc = curve_correlation(q.tempo, rel[key].tempo, log=True)
        lc = curve_correlation(q.loudness, rel[key].loudness)
        vals = [v for v in (tc, lc) if np.isfinite(v)]
        out.append(
            {
                "key": key,
                "score": float(np.mean(vals)) if vals else float("nan"),
                "tempo_corr": tc,
                "loudness_corr": lc,
            }
        )
    out.sort(key=lambda d: -(d["score"] if np.isfinite(d["score"]) else -2.0))
    return out
