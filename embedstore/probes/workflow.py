"""What the ``probe``, ``benchmark`` and ``predict`` commands run, callable from notebooks and tests too.

- :func:`probe_report` : load a task from a store, cross-validate probes, write the report (and the best probe).
- :func:`benchmark_report` : run a grid config and write one report for all its tasks.
- :func:`predict_with_probe` : predict with a saved probe on audio files (embedded exactly like the store) or on stored
  recordings; :func:`prediction_text` formats one prediction for a terminal.

Each returns a JSON-able summary (the commands print it with ``--json``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from embedstore.errors import ConfigError
from embedstore.probes.benchmark import read_config, run_benchmark
from embedstore.probes.inputs import load_task
from embedstore.probes.models import ProbeOptions
from embedstore.probes.persist import Probe, file_features, predictions_json, store_features
from embedstore.probes.report import write_report
from embedstore.probes.run import run_probe
from embedstore.probes.scoring import summary_rows
from embedstore.store import open_store


def probe_report(
    store: str | Path,
    task: str,
    out: str | Path,
    *,
    labels: str | Path | None = None,
    on: str | None = None,
    target: str | None = None,
    pairs: str | Path | None = None,
    pairs_from: str | None = None,
    within: str = "segment_id",
    min_diff: float = 0.0,
    lower_is_better: bool = False,
    group_by: str = "piece_id",
    encoders: Sequence[str] | None = None,
    layers: str = "all",
    poolings: Sequence[str] = ("mean",),
    level: str = "recording",
    probes: Sequence[str] = ("linear",),
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    where: str | None = None,
    save: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Cross-validate probes for one task on a store, write the report and (``save``) the best probe.

    Parameters
    ----------
    store : store directory; task : task name; out : report folder (the probe goes to ``out/<task>/model``)
    labels, on, target, pairs, pairs_from, within, min_diff, lower_is_better, group_by, where : the task
        (see :func:`~embedstore.probes.inputs.load_task`)
    encoders, layers, poolings, level, probes : the grid (see :func:`~embedstore.probes.run.run_probe`)
    folds, seed, n_boot : outer folds, seed and bootstrap resamples
    progress : called with one line per step (label summary first)

    Returns
    -------
    dict: ``report`` (file -> path), ``best`` (:func:`~embedstore.probes.scoring.summary_rows`), ``models``,
    ``recordings``, ``rows``
    """
    st = open_store(store)
    t = load_task(
        st,
        task,
        labels=labels,
        target=target,
        group_by=group_by,
        on=on,
        pairs=pairs,
        pairs_from=pairs_from,
        within=within,
        min_diff=min_diff,
        lower_is_better=lower_is_better,
        where=where,
    )
    if progress:
        for k, v in t.info.items():
            progress(f"{k}: {v}")
    run = run_probe(
        st,
        t,
        encoders=encoders,
        layers=layers,
        poolings=poolings,
        level=level,
        probes=probes,
        opts=ProbeOptions(n_splits=folds, seed=seed, n_boot=n_boot),
        where=where,
        save_dir=(Path(out) / task / "model") if save else None,
        progress=progress,
    )
    meta = {
        "store": st.uri,
        "task": task,
        "target": ", ".join(t.target_names),
        "group_by": t.group_by,
        "recordings": t.n,
        "folds": folds,
        "seed": seed,
        "bootstrap": n_boot,
        **t.info,
    }
    notes = [
        f"layer-mix weights {k}: " + ", ".join(f"{a}: {b:.2f}" for a, b in w.items())
        for k, w in run.info.get("layer_weights", {}).items()
    ]
    paths = write_report(
        out, run.rows, title=f"Probe report: {task}", meta=meta, notes=notes, tables=run.predictions
    )
    return {
        "report": {k: str(v) for k, v in paths.items()},
        "best": summary_rows(run.rows),
        "models": run.models,
        "recordings": t.n,
        "rows": len(run.rows),
    }


def benchmark_report(
    config: str | Path,
    out: str | Path,
    *,
    store: str | Path | None = None,
    save: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the grid of a benchmark config (:func:`~embedstore.probes.benchmark.run_benchmark`) and write one report.

    Parameters
    ----------
    config : TOML or JSON grid; relative paths in it are relative to its folder
    out : report folder; each task's best probe goes to ``out/<task id>/model`` (``save``)
    store : store directory (default: the config's ``store``, relative to the config)
    progress : called with one line per step

    Returns
    -------
    dict: ``report`` (file -> path), ``best``, ``models``, ``rows``
    """
    config = Path(config)
    cfg = read_config(config)
    base = config.resolve().parent
    if store is None:
        if not cfg.get("store"):
            raise ConfigError("no store given", hint='pass --store or set store = "..." in the config')
        sp = Path(cfg["store"])
        store = sp if sp.is_absolute() else base / sp
    st = open_store(store)
    runs = run_benchmark(st, cfg, base_dir=base, save_dir=out if save else None, progress=progress)
    rows = [r for run in runs for r in run.rows]
    models = {k: v for run in runs for k, v in run.models.items()}
    tables = {f"{name}_{run.task.name}": df for run in runs for name, df in run.predictions.items()}
    meta = {
        "store": st.uri,
        "config": str(config),
        "tasks": ", ".join(str(t.get("name")) for t in cfg["tasks"]),
    }
    paths = write_report(out, rows, title="Probe benchmark", meta=meta, tables=tables)
    return {
        "report": {k: str(v) for k, v in paths.items()},
        "best": summary_rows(rows),
        "models": models,
        "rows": len(rows),
    }


def predict_with_probe(
    probe_dir: str | Path,
    *,
    queries: Sequence[str | Path] = (),
    recording_ids: Sequence[str] = (),
    store: str | Path | None = None,
) -> dict:
    """Predict with a saved probe on audio files and/or stored recordings.

    Parameters
    ----------
    probe_dir : saved probe folder (config.json + model.safetensors)
    queries : audio files, embedded exactly like the store's setup
    recording_ids : stored recordings: id, path, file name or stem
    store : the store whose setup embeds the queries (default: the store the probe was trained on)

    Returns
    -------
    dict: ``probe``, ``task``, ``setup`` and ``predictions`` (one dict per input: ``input``
    [, ``recording_id``] and one entry per head, see :func:`~embedstore.probes.persist.predictions_json`)
    """
    pr = Probe.load(probe_dir)
    if not queries and not recording_ids:
        raise ConfigError("nothing to predict", hint="pass --query file.flac or --id <recording>")
    st = open_store(store if store is not None else pr.config["store"])
    results = []
    for q in queries:
        if not Path(q).exists():
            raise FileNotFoundError(2, "No such file", str(q))
        feats, mask = file_features(pr, st, q)
        res = pr.predict(feats, mask=mask)
        results.append({"input": str(q), **predictions_json(pr, res, 0)})
    if recording_ids:
        recs = [st.recording(k) for k in recording_ids]
        feats, mask = store_features(pr, st, [r["recording_id"] for r in recs])
        res = pr.predict(feats, mask=mask)
        for i, (k, r) in enumerate(zip(recording_ids, recs)):
            results.append({"input": k, "recording_id": r["recording_id"], **predictions_json(pr, res, i)})
    return {
        "probe": str(probe_dir),
        "task": pr.config["task"],
        "setup": pr.config["setup_key"],
        "predictions": results,
    }


def prediction_text(prediction: dict) -> str:
    """One line for a terminal: ``input: head: value; ...`` (top scores of multilabel heads)."""
    parts = []
    for head, d in prediction.items():
        if head in ("input", "recording_id"):
            continue
        if "prediction" in d and not isinstance(d["prediction"], dict):
            parts.append(f"{head}: {d['prediction']}")
        elif "prediction" in d:
            parts.append(
                f"{head}: " + ", ".join(f"{k}={v:.3f}" for k, v in list(d["prediction"].items())[:6])
            )
        elif "scores" in d:
            top = sorted(d["scores"].items(), key=lambda kv: -kv[1])[:3]
            parts.append(f"{head}: " + ", ".join(f"{k}={v:.2f}" for k, v in top))
        elif "score" in d:
            parts.append(f"{head} score: {d['score']:.3f}")
    return f"{prediction['input']}: " + "; ".join(parts)
