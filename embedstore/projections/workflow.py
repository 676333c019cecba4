"""What the ``project`` and ``evaluate-retrieval`` commands run, callable from notebooks and tests too.

- :func:`project_store` : train a projection on a stored space (or apply a saved one), write the projected spaces
  and, after training, the before/after report (``report.md``, ``report.json``, ``map.png``).
- :func:`project_summary_text` : the terminal summary of :func:`project_store`.
- :func:`retrieval_report` : score retrieval in a stored space and format it as Markdown or JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedstore.errors import ConfigError, check_choice
from embedstore.projections.maps import MAP_METHODS, plot_map
from embedstore.projections.persist import Projection, write_projection
from embedstore.projections.report import evaluate_projection, format_estimate, report_markdown
from embedstore.projections.retrieval import evaluate_store_retrieval, retrieval_markdown
from embedstore.projections.targets import missing_labels
from embedstore.projections.train import TrainConfig, fit_on_store, load_training_data
from embedstore.store import open_store, slug
from embedstore.utils import dumps

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Space, Store

#: Short loss names used in default projection names.
SHORT_LOSS_NAMES = {
    "weighted-contrastive": "wcl",
    "rank-n-contrast": "rnc",
    "supcon": "supcon",
    "triplet": "triplet",
}
LEVELS = ("recording", "window")


def project_store(
    store: str | Path,
    *,
    label: str | None = None,
    config: TrainConfig | None = None,
    encoder: str | None = None,
    layer: int | str | None = None,
    level: str = "recording",
    pooling: str = "mean",
    group_by: str = "piece_id",
    where: str | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    from_dir: str | Path | None = None,
    overwrite: bool = False,
    report: bool = True,
    folds: int = 5,
    map_method: str = "tsne",
) -> dict:
    """Train a contrastive projection on a stored space (or apply a saved one) and write the projected spaces.

    Parameters
    ----------
    store : store directory
    label : metadata column to learn from (required unless ``from_dir``)
    config : training options (:class:`~embedstore.projections.train.TrainConfig`)
    encoder, layer, level, pooling : the source space (setup key or encoder name, layer index or name)
    group_by : grouping of the validation split and of the report's folds
    where : SQL filter on the recordings (training, or what a saved projection projects)
    name : projection name (new setup key ``<setup>--<name>``; default from loss, label and layer)
    out : folder for the trained projection (default ``<store>/projections/<name>``)
    from_dir : apply this saved projection instead of training
    overwrite : replace projected spaces (and a saved projection) of the same name
    report, folds, map_method : write the grouped-CV before/after report with this many folds and a 2-D map
        (``tsne``, ``umap``, ``pca`` or ``none``)

    Returns
    -------
    dict: ``store``, ``projection`` (folder), ``source_space``, ``spaces`` (written space ids); after training
    also ``label``, ``best_epoch``, ``epochs_run``, ``n_train``, ``n_val``, ``early_stopping_on`` and, with a
    report, ``report`` (probe and retrieval estimates) and ``report_files``
    """
    check_choice("level", level, LEVELS)
    check_choice("map", map_method, (*MAP_METHODS, "none"))
    st = open_store(store)
    summary: dict = {"store": st.uri}
    if from_dir is not None:
        return {
            **summary,
            **_apply_saved(st, Path(from_dir), name, encoder, layer, level, pooling, overwrite, where),
        }
    if not label:
        raise ConfigError("--label is required to train a projection", hint="or apply one with --from DIR")
    cfg = (config or TrainConfig()).validate()
    src = st.find_space(encoder=encoder, layer=layer, level=level, pooling=pooling)
    if src.provenance.get("kind") == "projection":
        raise ConfigError(f"{src.space_id} is already a projection", hint="pick the source encoder's setup")
    nm = name or slug(f"{SHORT_LOSS_NAMES[cfg.loss]}-{label}-L{src.layer}")
    if out is None:
        if "://" in st.uri:
            raise ConfigError("the store is remote; say where to save the projection with --out DIR")
        out = Path(st.uri) / "projections" / nm
    out = Path(out)
    if (out / "model.safetensors").exists() and not overwrite:
        raise ConfigError(f"a projection already exists at {out}", hint="pass --overwrite or another --name")
    proj = fit_on_store(st, src, label, group_by=group_by, where=where, config=cfg)
    proj.save(out)
    spaces = write_projection(st, proj, name=nm, path=out, source=src, overwrite=overwrite)
    h = proj.history
    summary.update(
        projection=str(out.resolve()),
        source_space=src.space_id,
        spaces=[s.space_id for s in spaces],
        label=proj.label,
        **{k: h[k] for k in ("best_epoch", "epochs_run", "n_train", "n_val", "early_stopping_on")},
    )
    if report:
        summary.update(
            write_projection_report(
                st,
                src,
                proj,
                label,
                out,
                name=nm,
                group_by=group_by,
                where=where,
                folds=folds,
                map_method=map_method,
            )
        )
    return summary


def _apply_saved(
    st: Store,
    from_dir: Path,
    name: str | None,
    encoder: str | None,
    layer: int | str | None,
    level: str,
    pooling: str,
    overwrite: bool,
    where: str | None,
) -> dict:
    """Project a store with a saved projection: its own input space when the store has it, else the one named."""
    proj = Projection.load(from_dir)
    sid = proj.input_provenance.get("space_id")
    src = (
        st.space(sid)
        if sid and any(s.space_id == sid for s in st.spaces())
        else st.find_space(encoder=encoder, layer=layer, level=level, pooling=pooling)
    )
    spaces = write_projection(
        st, proj, name=name or from_dir.name, path=from_dir, source=src, overwrite=overwrite, where=where
    )
    return {
        "projection": str(from_dir.resolve()),
        "source_space": src.space_id,
        "spaces": [s.space_id for s in spaces],
    }


def write_projection_report(
    store: Store,
    source: Space,
    projection: Projection,
    label: str,
    out: Path,
    *,
    name: str,
    group_by: str = "piece_id",
    where: str | None = None,
    folds: int = 5,
    map_method: str = "tsne",
) -> dict:
    """The before/after report of a trained projection, written next to it.

    Parameters
    ----------
    store, source : the store and the source space; projection : the trained projection; label : its column
    out : the projection's folder (receives ``report.md``, ``report.json`` and ``map.png``)
    name : the projection's name (titles); group_by, where : as for training
    folds : grouped CV folds; map_method : ``tsne``, ``umap``, ``pca`` or ``none``

    Returns
    -------
    dict: ``report`` (probe and retrieval estimates) and ``report_files``
    """
    cfg = TrainConfig(**projection.train_config)
    es, labels, groups = load_training_data(store, source, label, group_by=group_by, where=where)
    res = evaluate_projection(
        es.vectors, labels, groups, config=cfg, n_splits=folds, seed=cfg.seed, label_column=label
    )
    res["source_space"] = source.space_id
    res["group_by"] = group_by
    (out / "report.json").write_text(dumps(res) + "\n")
    (out / "report.md").write_text(report_markdown(res, title=f"Projection {name}: before vs after"))
    files = [str(out / "report.md"), str(out / "report.json")]
    if map_method != "none" and len(es) >= 3:
        keep = ~missing_labels(labels)
        png = plot_map(
            es.vectors[keep],
            projection.transform(es.vectors[keep]),
            labels[keep],
            out / "map.png",
            method=map_method,
            label_name=label,
            seed=cfg.seed,
            title=f"{source.space_id} → {name} (points include training data)",
        )
        files.append(str(png))
    return {"report": {k: res.get(k) for k in ("probe", "retrieval")}, "report_files": files}


def project_summary_text(summary: dict) -> str:
    """The terminal lines of a :func:`project_store` summary."""
    lines = [
        f"projection: {summary['projection']}",
        f"source space: {summary['source_space']}",
        "wrote spaces: " + ", ".join(summary["spaces"]),
    ]
    if "best_epoch" in summary:
        lines.append(
            f"training: best epoch {summary['best_epoch']} of {summary['epochs_run']} "
            f"(n_train={summary['n_train']}, n_val={summary['n_val']}, early stopping on "
            f"{summary['early_stopping_on']})"
        )
    est = format_estimate
    rep = summary.get("report") or {}
    if rep.get("probe"):
        p = rep["probe"]
        lines.append(
            f"probe {p['metric']} on held-out groups: raw {est(p['raw'])}  projected {est(p['projected'])}  "
            f"difference {est(p['difference'])}"
        )
    if rep.get("retrieval"):
        r = rep["retrieval"]
        lines.append(
            f"retrieval MAP on held-out groups: raw {est(r['map_raw'])}  projected {est(r['map_projected'])}  "
            f"chance {r['map_chance']:.3f}"
        )
    lines += [f"wrote {f}" for f in summary.get("report_files", [])]
    return "\n".join(lines)


def retrieval_report(
    store: str | Path,
    *,
    fmt: str = "md",
    per_query: bool = True,
    out: str | Path | None = None,
    **options: Any,
) -> tuple[dict, str]:
    """Score retrieval in a stored space and format it.

    Parameters
    ----------
    store : store directory
    fmt : ``md`` (Markdown, :func:`~embedstore.projections.retrieval.retrieval_markdown`) or ``json``
    per_query : Markdown: include one row per query
    out : also write the text to this file (parent folders created)
    **options : :func:`~embedstore.projections.retrieval.evaluate_store_retrieval` options (relevant_by, within,
        across, mode, space, encoder, layer, level, pooling, where, piece_column, method, metric)

    Returns
    -------
    the result dict and its text
    """
    check_choice("format", fmt, ("md", "json"))
    res = evaluate_store_retrieval(open_store(store), **options)
    text = dumps(res) + "\n" if fmt == "json" else retrieval_markdown(res, per_query=per_query)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return res, text
