"""Probe reports: ``report.md`` (tables), ``results.csv`` / ``results.json`` (one row per
setup/layer/pooling/probe/task/head/target/metric with its 95 % CI) and one PNG per task, head and encoder setup
showing each metric against the layer, with CI bands and the baseline as a dashed line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.probes.scoring import summary_rows

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

COLUMNS = (
    "task",
    "head",
    "target",
    "metric",
    "setup",
    "encoder",
    "level",
    "pooling",
    "probe",
    "layer",
    "layer_name",
    "value",
    "ci_low",
    "ci_high",
    "fold_mean",
    "fold_std",
    "n_folds",
    "n",
    "is_baseline",
    "higher_is_better",
    "group_by",
    "model_kind",
)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(s)).strip("-") or "x"


def _clean(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def rows_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with the standard column order (extra keys kept at the end)."""
    import pandas as pd

    df = pd.DataFrame(list(rows))
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = None
    rest = [c for c in df.columns if c not in COLUMNS]
    df = df[list(COLUMNS) + rest]
    df["layer"] = df["layer"].astype(str)
    df["target"] = df["target"].fillna("").astype(str)
    return df


def write_results(out_dir: str | Path, rows: Sequence[dict], *, meta: dict | None = None) -> dict[str, Path]:
    """Write ``results.csv`` and ``results.json`` (``{"meta": ..., "rows": [...]}``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = rows_frame(rows)
    df.to_csv(out / "results.csv", index=False)
    recs = [{k: _clean(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    payload = {"meta": {k: _clean(v) for k, v in (meta or {}).items()}, "rows": recs}
    (out / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    return {"results.csv": out / "results.csv", "results.json": out / "results.json"}


def _primary_target(df: pd.DataFrame) -> str:
    targets = [t for t in df["target"].unique() if t]
    if not targets:
        return ""
    return "mean" if "mean" in targets else targets[0]


def _plot_metric(ax: Any, gm: pd.DataFrame) -> None:
    """One metric against the layer: a line (with CI band) per probe/pooling, dashed lines for mix and baseline."""
    base = gm[gm["is_baseline"].astype(bool)]
    model = gm[~gm["is_baseline"].astype(bool)]

    def hline(frame: pd.DataFrame, ls: str, lw: float, color: str, label: str) -> None:
        ax.axhline(float(frame["value"].iloc[0]), ls=ls, lw=lw, color=color, label=label)

    for (probe, pooling), gl in model.groupby(["probe", "pooling"], sort=True):
        num = gl[gl["layer"].str.lstrip("-").str.isdigit()]
        label = f"{probe} ({pooling})" if pooling not in ("none", None) else probe
        if len(num):
            x = num["layer"].astype(int).to_numpy()
            o = np.argsort(x)
            y, lo, hi = (num[c].astype(float).to_numpy()[o] for c in ("value", "ci_low", "ci_high"))
            line = ax.plot(x[o], y, marker="o", ms=3, label=label)[0]
            if len(x) > 1:
                ax.fill_between(x[o], lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            else:  # one layer: an error bar instead of a band
                ax.errorbar(x[o], y, yerr=[y - lo, hi - y], fmt="none", ecolor=line.get_color(), capsize=4)
        mix = gl[gl["layer"] == "mix"]
        if len(mix):
            hline(mix, "-.", 1.2, "tab:purple", f"{label}: layer mix")
    if len(base):
        hline(base, "--", 1.0, "gray", f"baseline ({base['probe'].iloc[0]})")


def plot_layers(out_dir: str | Path, rows: Sequence[dict]) -> list[Path]:
    """One PNG per (task, head, setup): each metric against the layer, one line per probe/pooling.

    Returns
    -------
    the PNG paths (in ``out_dir/plots``)
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    df = rows_frame(rows)
    paths = []
    for (task, head, setup), g in df.groupby(["task", "head", "setup"], sort=True):
        tgt = _primary_target(g)
        g = g[g["target"] == tgt]
        metrics = list(dict.fromkeys(g["metric"]))
        metrics = [m for m in metrics if m not in ("antisymmetry_error", "intransitive_share")] or metrics
        if not metrics:
            continue
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            _plot_metric(ax, g[g["metric"] == metric])
            ax.set_xlabel("layer")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(metric + (f" ({tgt})" if tgt else ""), fontsize=9)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7, loc="best")
        fig.suptitle(f"{task} / {head} / {setup}", fontsize=10)
        fig.tight_layout()
        p = out / f"{_slug(task)}_{_slug(head)}_{_slug(setup)}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def _fmt(r: dict) -> str:
    v = r["value"]
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    lo, hi = r["ci_low"], r["ci_high"]
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{v:.3f}"
    if abs(hi - lo) < 1e-12:
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def markdown_tables(rows: Sequence[dict], *, max_targets: int = 3) -> str:
    """Markdown tables: per task, head and target, one row per setup/pooling/probe/layer, baseline first."""
    df = rows_frame(rows)
    parts = []
    for (task, head), g in df.groupby(["task", "head"], sort=False):
        targets = list(dict.fromkeys(g["target"]))
        prim = _primary_target(g)
        show = [prim] + [t for t in targets if t != prim][: max(0, max_targets - 1)] if prim else targets
        for tgt in show:
            gt = g[g["target"] == tgt]
            metrics = list(dict.fromkeys(gt["metric"]))
            title = f"### {task} - {head}" + (f" - {tgt}" if tgt else "")
            lines = [
                title,
                "",
                "| setup | pooling | probe | layer | " + " | ".join(metrics) + " |",
                "|" + "---|" * (4 + len(metrics)),
            ]
            keys = ["setup", "pooling", "probe", "layer"]
            ordered = gt.sort_values("is_baseline", ascending=False, kind="stable")
            for key, gr in ordered.groupby(keys, sort=False):
                cells = []
                for m in metrics:
                    hit = gr[gr["metric"] == m]
                    cells.append(_fmt(hit.iloc[0]) if len(hit) else "")
                name = key[2] + (" (baseline)" if bool(gr["is_baseline"].iloc[0]) else "")
                lines.append(
                    f"| {key[0]} | {key[1]} | {name} | {gr['layer_name'].iloc[0]} | "
                    + " | ".join(cells)
                    + " |"
                )
            if len(targets) > len(show):
                lines.append("")
                lines.append(f"({len(targets) - len(show)} more targets in results.csv)")
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def best_summary(rows: Sequence[dict]) -> str:
    """One Markdown table line per task/head: the best setup/pooling/probe/layer by the primary metric, vs the
    baseline (:func:`~embedstore.probes.scoring.summary_rows`)."""
    recs = rows_frame(rows).to_dict(orient="records")
    for r in recs:
        r["value"] = float(r["value"]) if r["value"] is not None else float("nan")
    out = ["| task | head | metric | best | value [95% CI] | baseline |", "|---|---|---|---|---|---|"]
    for s in summary_rows(recs):
        where = f"{s['setup']} / {s['pooling']} / {s['probe']} / layer {s['layer_name']}"
        target = f" ({s['target']})" if s["target"] else ""
        base = _fmt(s["baseline"]) if s["baseline"] else "n/a"
        out.append(f"| {s['task']} | {s['head']} | {s['metric']}{target} | {where} | {_fmt(s)} | {base} |")
    return "\n".join(out)


def write_report(
    out_dir: str | Path,
    rows: Sequence[dict],
    *,
    title: str = "Probe report",
    meta: dict | None = None,
    notes: Sequence[str] = (),
    tables: dict | None = None,
) -> dict[str, Path]:
    """Write report.md, results.csv, results.json and the layer plots into ``out_dir``.

    ``tables`` : extra DataFrames written as ``<name>.csv`` (e.g. Bradley-Terry scores of a ranking run).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_results(out, rows, meta=meta)
    plots = plot_layers(out, rows)
    for name, t in (tables or {}).items():
        t.to_csv(out / f"{name}.csv", index=False)
        paths[f"{name}.csv"] = out / f"{name}.csv"
    md = [f"# {title}", ""]
    if meta:
        md += ["| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in meta.items()] + [""]
    md += [
        "Values are pooled out-of-fold scores with cluster-bootstrap 95 % CIs (resampling whole groups). "
        "Folds are grouped, so no group is in both train and test; hyper-parameters are chosen on inner "
        "splits of the training folds only. The best layer below is picked on the same CV scores, so its "
        "value is slightly optimistic.",
        "",
    ]
    md += [f"- {n}" for n in notes] + ([""] if notes else [])
    md += ["## Best per task", "", best_summary(rows), "", "## Results", "", markdown_tables(rows), ""]
    if plots:
        md += ["## Layer plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    (out / "report.md").write_text("\n".join(md))
    paths["report.md"] = out / "report.md"
    for p in plots:
        paths[f"plots/{p.name}"] = p
    return paths
