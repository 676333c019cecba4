"""2-D maps of a space before and after a projection (t-SNE, UMAP or PCA), coloured by label.

Shapes: vectors (n, d) -> coordinates (n, 2). t-SNE needs scikit-learn, UMAP the ``umap-learn`` package; both are
imported only when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from embedstore.errors import ConfigError, check_choice

MAP_METHODS = ("tsne", "umap", "pca")


def embed_2d(X: np.ndarray, *, method: Literal["tsne", "umap", "pca"] = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates of vectors (n, d) -> (n, 2) for plotting."""
    check_choice("method", method, MAP_METHODS)
    X = np.asarray(X, np.float64)
    n = len(X)
    if n < 3:
        raise ConfigError(f"need at least 3 items for a map, got {n}")
    Xs = (X - X.mean(0)) / np.where(X.std(0) > 1e-12, X.std(0), 1.0)
    if method == "pca" or n < 6:
        U, s, _ = np.linalg.svd(Xs - Xs.mean(0), full_matrices=False)
        out = U[:, :2] * s[:2]
        return np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    if method == "umap":
        import umap

        return umap.UMAP(n_neighbors=min(15, n - 1), random_state=seed).fit_transform(Xs)
    from sklearn.manifold import TSNE

    return TSNE(
        n_components=2, perplexity=float(min(30.0, max(2.0, (n - 1) / 3.0))), init="pca", random_state=seed
    ).fit_transform(Xs)


def plot_map(
    before: np.ndarray,
    after: np.ndarray,
    labels: Sequence | np.ndarray,
    path: str | Path,
    *,
    method: Literal["tsne", "umap", "pca"] = "tsne",
    title: str = "",
    label_name: str = "label",
    seed: int = 0,
) -> Path:
    """Side-by-side 2-D maps of a space before and after a projection, coloured by label; writes a PNG.

    Parameters
    ----------
    before : (n, d) raw vectors
    after : (n, k) projected vectors (same rows)
    labels : (n,) numeric (colour scale) or categorical (one colour per class, legend when ≤ 20 classes)
    path : PNG file to write
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels, dtype=object)
    try:
        num = np.asarray(labels, dtype=np.float64)
        numeric = len(np.unique(num[np.isfinite(num)])) > 12
    except (TypeError, ValueError):
        numeric = False
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, V, name in zip(axes, (before, after), ("before (raw)", "after (projected)")):
        xy = embed_2d(V, method=method, seed=seed)
        if numeric:
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=num, cmap="viridis", s=18)
            fig.colorbar(sc, ax=ax, label=label_name)
        else:
            s = np.array([str(v) for v in labels])
            classes = sorted(set(s))
            cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
            for i, c in enumerate(classes):
                m = s == c
                ax.scatter(xy[m, 0], xy[m, 1], s=18, color=cmap(i % cmap.N), label=c)
            if len(classes) <= 20:
                ax.legend(fontsize=7, title=label_name, loc="best", markerscale=0.8)
        ax.set_title(f"{name} — {method}")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
