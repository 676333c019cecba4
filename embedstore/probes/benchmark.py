"""Probe benchmarks: grids of probe runs (encoder x layer x pooling x probe x task) described by one config.

This is also the one import for notebooks and scripts: the names of the probe protocol are importable from here
(options and model kinds from :mod:`~embedstore.probes.models`, folds and cross-validation from
:mod:`~embedstore.probes.crossval`, scoring from :mod:`~embedstore.probes.scoring`, store inputs from
:mod:`~embedstore.probes.inputs`, runs from :mod:`~embedstore.probes.run`, final fits from
:mod:`~embedstore.probes.final`).

Protocol (every run): grouped outer folds (no group in train and test), model selection on a grouped inner split
of each training fold only, pooled out-of-fold predictions with cluster-bootstrap 95 % CIs and the fold spread,
and a baseline fitted on the training folds for every head.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedstore.errors import ConfigError
from embedstore.probes.crossval import (
    HeadCV,
    cross_validate,
    cross_validate_many,
    fit_final,
    fold_index,
    inner_rows,
    make_folds,
)
from embedstore.probes.final import save_best
from embedstore.probes.inputs import align_task, load_task, parse_layers, setups_for, task_features
from embedstore.probes.models import PROBES, ProbeOptions, fit_head, forward_params, model_kind
from embedstore.probes.run import LEVELS, ProbeRun, run_probe
from embedstore.probes.scoring import baseline_rows, best_row, evaluate_head, metric_rows, summary_rows

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Store

__all__ = [
    "LEVELS",
    "PROBES",
    "HeadCV",
    "ProbeOptions",
    "ProbeRun",
    "align_task",
    "baseline_rows",
    "best_row",
    "cross_validate",
    "cross_validate_many",
    "evaluate_head",
    "fit_final",
    "fit_head",
    "fold_index",
    "forward_params",
    "inner_rows",
    "load_task",
    "make_folds",
    "metric_rows",
    "model_kind",
    "parse_layers",
    "read_config",
    "run_benchmark",
    "run_probe",
    "save_best",
    "setups_for",
    "summary_rows",
    "task_features",
]


def read_config(path: str | Path) -> dict:
    """Read a benchmark config (TOML or JSON); a missing file or invalid TOML is a :class:`ConfigError`."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"benchmark config not found: {p}")
    text = p.read_text()
    if p.suffix.lower() == ".json":
        return json.loads(text)
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as e:
            raise ConfigError(
                "reading TOML needs Python 3.11+ or the tomli package; or use a .json config"
            ) from e
    try:
        return tomllib.loads(text)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"invalid TOML in {p}: {e}") from e


def _task_from_config(store: Store, tc: dict, config: dict, base: Path, i: int) -> tuple[str, Any]:
    """The label and :class:`TaskData` of the ``i``-th ``[[tasks]]`` entry (paths relative to ``base``)."""
    name = tc.get("name") or tc.get("task")
    if not name:
        raise ConfigError(f"task #{i + 1} of the config has no name")

    def rel(v: str | None) -> str | None:
        if v is None:
            return None
        p = Path(v)
        return str(p if p.is_absolute() else base / p)

    task = load_task(
        store,
        name,
        labels=rel(tc.get("labels")),
        target=tc.get("target"),
        group_by=tc.get("group_by", config.get("group_by", "piece_id")),
        on=tc.get("on"),
        pairs=rel(tc.get("pairs")),
        pairs_from=tc.get("pairs_from"),
        within=tc.get("within", "segment_id"),
        min_diff=float(tc.get("min_diff", 0.0)),
        lower_is_better=bool(tc.get("lower_is_better", False)),
        where=tc.get("where"),
    )
    return str(tc.get("id", name)), task


def run_benchmark(
    store: Store,
    config: dict,
    *,
    base_dir: str | Path | None = None,
    save_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ProbeRun]:
    """Run an encoder x layer x pooling x probe x task grid described by ``config``.

    Config keys (TOML)::

        n_splits = 5            # optional: seed, n_boot, val_fraction
        encoders = ["chroma-w10-h5", "mfcc"]   # default: every setup
        layers = "all"          # or "0,4,8", "mix", ...
        poolings = ["mean", "max"]
        probes = ["linear", "mlp"]
        [[tasks]]
        name = "difficulty"     # task (see embedstore.probes.tasks.TASKS)
        target = "henle"
        group_by = "piece_id"
        labels = "labels.csv"   # optional; relative to the config file
        # ranking: pairs = "pairs.csv" or pairs_from = "<rating column>", within = "segment_id"
        # any grid key (encoders, layers, poolings, probes, level) may be overridden per task

    Parameters
    ----------
    store : the store; config : the parsed config (:func:`read_config`)
    base_dir : folder relative paths of the config are resolved against (default: the working directory)
    save_dir : each task's best probe goes to ``save_dir/<task id>/model``
    progress : called with one line per step

    Returns
    -------
    one :class:`ProbeRun` per task (its rows' ``task`` is the task's ``id``, default its name)
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    tasks = config.get("tasks") or []
    if not tasks:
        raise ConfigError("benchmark config has no [[tasks]]")
    opts = ProbeOptions(
        n_splits=int(config.get("n_splits", 5)),
        seed=int(config.get("seed", 0)),
        n_boot=int(config.get("n_boot", 1000)),
        val_fraction=float(config.get("val_fraction", 0.25)),
    )
    runs = []
    for i, tc in enumerate(tasks):
        label, t = _task_from_config(store, tc, config, base, i)
        if progress:
            progress(f"task {label}: {t.n} recordings")
        grid = {k: tc.get(k, config.get(k)) for k in ("encoders", "layers", "poolings", "probes", "level")}
        run = run_probe(
            store,
            t,
            encoders=grid["encoders"],
            layers=grid["layers"] or "all",
            poolings=grid["poolings"] or ("mean",),
            level=grid["level"] or "recording",
            probes=grid["probes"] or ("linear",),
            opts=opts,
            where=tc.get("where"),
            save_dir=(Path(save_dir) / label / "model") if save_dir is not None else None,
            progress=progress,
        )
        for r in run.rows:
            r["task"] = label
        runs.append(run)
    return runs
