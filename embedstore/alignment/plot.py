"""Figures of an alignment: the cost matrix with the warping path, and the local tempo ratio along it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedstore.alignment.dtw import cost_matrix
from embedstore.alignment.features import FrameFeatures, normalise_chroma
from embedstore.alignment.sync import Alignment

__all__ = ["plot_alignment"]

#: Largest side of the plotted cost matrix, frames (the plot rate is lowered to fit).
MAX_SIDE = 1200


def plot_alignment(
    alignment: Alignment,
    features_a: FrameFeatures,
    features_b: FrameFeatures,
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Write a PNG: CENS cost matrix with the path and the time map's anchors, and the local tempo ratio.

    Parameters
    ----------
    alignment : Alignment
    features_a, features_b : FrameFeatures
        The features that were aligned (any rate; CENS at up to 10 frames/s is drawn).
    path : str or Path
        Output file (``.png``).
    title : str, optional

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rate = min(
        10.0, features_a.frame_rate, MAX_SIDE / max(features_a.duration_s, features_b.duration_s, 1e-9)
    )
    factor = max(1, int(round(features_a.frame_rate / rate)))
    ca = features_a.downsample(factor).chroma if factor > 1 else features_a.chroma
    cb = features_b.downsample(factor).chroma if factor > 1 else features_b.chroma
    C = cost_matrix(normalise_chroma(ca), normalise_chroma(cb))
    r = features_a.frame_rate / factor
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
    ax = axes[0]
    ax.imshow(
        C.T,
        origin="lower",
        aspect="auto",
        cmap="gray_r",
        extent=[0, len(ca) / r, 0, len(cb) / r],
        vmin=0,
        vmax=1,
    )
    p = alignment.path / alignment.frame_rate
    ax.plot(p[:, 0], p[:, 1], color="tab:red", lw=1.2, label="warping path")
    tm = alignment.time_map
    ax.plot(tm.a, tm.b, ".", color="tab:cyan", ms=2, label="time-map anchors")
    ax.set_xlabel("A (s)")
    ax.set_ylabel("B (s)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"cost {alignment.cost:.3f}, confidence {alignment.confidence:.2f}")
    ax2 = axes[1]
    a0, a1 = tm.valid_a
    t = np.linspace(a0, a1, 400)
    ax2.plot(t, 1.0 / np.maximum(tm.local_slope(t, width_s=2.0), 1e-6), color="tab:blue")
    ax2.axhline(1.0, color="0.6", lw=0.8)
    ax2.set_xlabel("A (s)")
    ax2.set_ylabel("tempo of B relative to A (2 s window)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
