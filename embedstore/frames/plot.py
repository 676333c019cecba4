"""Plot of a frame analysis: waveform and loudness with the dynamics levels, beats and downbeats over time.

Top panel: the waveform envelope (grey) and the short-time loudness in dB (black, right axis), on a background
coloured by the dynamics level of each segment; beats are thin vertical lines, downbeats thick ones, change points
dashed red lines. Bottom panel: the dynamics level as a step curve (pp..ff) and the expected level from the class
probabilities. Written with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedstore.frames.targets import DYNAMICS_LEVELS

_COLOURS = ("#deebf7", "#c6dbef", "#9ecae1", "#fdd0a2", "#fdae6b", "#f16913")


def plot_analysis(
    analysis, samples, sample_rate: int, out_path, *, title: str | None = None, dpi: int = 110
) -> Path:
    """Write a PNG of ``analysis`` (:class:`~embedstore.frames.predict.FrameAnalysis`) over the signal.

    Parameters
    ----------
    analysis : FrameAnalysis
    samples : np.ndarray, shape (n,)
        The mono signal the analysis was computed on.
    sample_rate : int
    out_path : str or Path
        PNG file (parent folders created).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    x = np.asarray(samples, dtype=np.float32)
    sr = float(sample_rate)
    dur = analysis.duration
    # envelope and loudness at 50 points/s
    hop = max(1, int(sr / 50))
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop) if n else np.zeros((0, hop), np.float32)
    t = (np.arange(n) + 0.5) * hop / sr
    env_hi = frames.max(axis=1) if n else np.zeros(0)
    env_lo = frames.min(axis=1) if n else np.zeros(0)
    rms_db = (
        10 * np.log10(np.maximum((frames.astype(np.float64) ** 2).mean(axis=1), 1e-10)) if n else np.zeros(0)
    )
    if n > 5:
        rms_db = np.convolve(rms_db, np.ones(5) / 5, mode="same")

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, height_ratios=(3, 1.4))
    for seg in analysis.segments():
        ax.axvspan(seg["start"], seg["end"], color=_COLOURS[DYNAMICS_LEVELS.index(seg["level"])], lw=0)
    ax.fill_between(t, env_lo, env_hi, color="0.45", lw=0)
    lim = float(max(np.abs(x).max() if len(x) else 0.0, 1e-3)) * 1.05
    ax.set_ylim(-lim, lim)
    ax.set_ylabel("amplitude")
    for b in analysis.beats:
        ax.axvline(b, color="0.15", lw=0.5, alpha=0.6)
    for b in analysis.downbeats:
        ax.axvline(b, color="navy", lw=1.8, alpha=0.9)
    for c in analysis.change_points:
        ax.axvline(c, color="red", lw=1.2, ls="--")
    axl = ax.twinx()
    axl.plot(t, rms_db, color="black", lw=1.0)
    axl.set_ylabel("loudness (dB RMS)")
    handles = [Patch(color=_COLOURS[i], label=lv) for i, lv in enumerate(DYNAMICS_LEVELS)]
    handles += [
        Line2D([], [], color="0.15", lw=0.5, label="beat"),
        Line2D([], [], color="navy", lw=1.8, label="downbeat"),
        Line2D([], [], color="red", lw=1.2, ls="--", label="change point"),
        Line2D([], [], color="black", lw=1.0, label="loudness"),
    ]
    ax.legend(handles=handles, loc="upper right", ncol=5, fontsize=7, framealpha=0.85)
    ax.set_title(title or (Path(analysis.path).name if analysis.path else "frame analysis"))

    ft = np.arange(len(analysis.levels)) / analysis.frame_rate
    ax2.step(ft, analysis.levels, where="post", color="C3", lw=1.5, label="level (per beat)")
    probs = analysis.activations.get("dynamics")
    if probs is not None and len(probs):
        ax2.plot(
            ft,
            (probs * np.arange(len(DYNAMICS_LEVELS))).sum(axis=1),
            color="C0",
            lw=0.8,
            alpha=0.7,
            label="expected level",
        )
    ax2.set_yticks(range(len(DYNAMICS_LEVELS)), DYNAMICS_LEVELS)
    ax2.set_ylim(-0.5, len(DYNAMICS_LEVELS) - 0.5)
    ax2.set_xlim(0, max(dur, 1e-3))
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("dynamics")
    ax2.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
