"""Probe runs on a store: cross-validate probes for every setup x pooling x layer x probe x head of one task.

:func:`run_probe` loads each setup's layers once (:mod:`embedstore.probes.inputs`), makes grouped outer folds,
cross-validates every probe (:mod:`embedstore.probes.crossval`; the closed-form ridge heads of a task are solved
together on shared Gram matrices), scores them against the head's baseline (:mod:`embedstore.probes.scoring`) and,
with ``save_dir``, refits and saves the best probe (:mod:`embedstore.probes.final`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from embedstore.errors import ConfigError, check_choice
from embedstore.probes.crossval import HeadCV, cross_validate, cross_validate_many, fold_index, make_folds
from embedstore.probes.final import save_best
from embedstore.probes.gram import GramCache
from embedstore.probes.inputs import parse_layers, select_layers, setups_for, task_features
from embedstore.probes.models import PROBES, Features, ProbeOptions, model_kind
from embedstore.probes.scoring import baseline_rows, evaluate_head, ranking_eval_rows, ranking_table
from embedstore.probes.tasks import TaskData

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Store

LEVELS = ("recording", "window")


@dataclass
class ProbeRun:
    """What :func:`run_probe` returns.

    Attributes
    ----------
    task : the task probed; rows : result rows (see :mod:`embedstore.probes.scoring`)
    models : task name -> saved probe folder
    info : run facts (``n_rows``, ``layer_weights`` of layer-mix probes)
    predictions : extra tables, name -> DataFrame (e.g. ``ranking_scores``)
    """

    task: TaskData
    rows: list[dict]
    models: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)


def _log(progress: Callable[[str], None] | None, msg: str) -> None:
    if progress:
        progress(msg)


def _check_probes(task: TaskData, probes: Sequence[str], level: str) -> list[tuple[str, str]]:
    """Validate the probe names against the level and task: the (probe, head) pairs that exist."""
    check_choice("level", level, LEVELS)
    for p in probes:
        check_choice("probe", p, PROBES)
    if level == "window" and any(p != "attention" for p in probes):
        raise ConfigError("level 'window' is for the attention probe", hint="use --probe attention")
    if "attention" in probes and level != "window":
        raise ConfigError("the attention probe needs window sequences", hint="add --level window")
    usable = [(p, h) for p in probes for h in task.heads if model_kind(p, h) is not None]
    if not usable:
        raise ConfigError(
            f"none of the probes {', '.join(probes)} applies to task {task.name!r}",
            hint="ranking: linear or mlp; ratings/levels: ridge, linear, mlp, layermix",
        )
    return usable


def _check_rankable(task: TaskData, folds: list) -> None:
    if task.pairs is not None and len(ranking_eval_rows(task, fold_index(task.n, folds))) == 0:
        raise ConfigError(
            f"no pair has both recordings in one test fold when grouping by "
            f"{task.group_by!r}, so no pair can be scored",
            hint="group by a column both recordings of a pair share (e.g. piece_id)",
        )


def run_probe(
    store: Store,
    task: TaskData,
    *,
    encoders: str | Sequence[str] | None = None,
    layers: str | Sequence | int | None = "all",
    poolings: Sequence[str] = ("mean",),
    level: str = "recording",
    probes: Sequence[str] = ("linear",),
    opts: ProbeOptions | None = None,
    where: str | None = None,
    save_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ProbeRun:
    """Cross-validate probes on stored embeddings for every setup x pooling x layer x probe x head.

    Parameters
    ----------
    store : the store; task : from :func:`~embedstore.probes.inputs.load_task`
    encoders : setup keys or encoder names (default: every setup in the store)
    layers : see :func:`~embedstore.probes.inputs.parse_layers`; ``mix`` adds the layer-mix probe over all layers
    poolings : recording-level poolings to probe (``level="recording"``)
    level : "recording" (pooled vectors) or "window" (window sequences, for the ``attention`` probe)
    probes : probe names (:data:`~embedstore.probes.models.PROBES`); combinations that do not exist for a head
        are skipped
    opts : cross-validation and training options
    where : SQL filter on the recordings
    save_dir : when given, the best (probe, layer) of each head is refitted on all rows and saved there
    progress : called with one line per step

    Returns
    -------
    ProbeRun with result rows (one per setup/pooling/layer/probe/head/target/metric, baseline rows included)
    """
    opts = opts or ProbeOptions()
    usable = _check_probes(task, probes, level)
    run = ProbeRun(task=task, rows=[])
    best_cvs: dict = {}
    pools = list(poolings) if level == "recording" else ["none"]
    for setup in setups_for(store, encoders):
        for pool in pools:
            _probe_space(
                store, task, setup, pool, level, layers, probes, usable, opts, where, run, best_cvs, progress
            )
    run.info["n_rows"] = len(run.rows)
    if task.heads == ("ranking",):
        run.predictions["ranking_scores"] = ranking_table(task, run.rows, best_cvs)
    if save_dir is not None:
        probe_obj = save_best(store, task, run.rows, opts=opts, where=where)
        if probe_obj is not None:
            path = Path(save_dir)
            probe_obj.save(path)
            run.models[task.name] = str(path)
    return run


def _probe_space(
    store: Store,
    task: TaskData,
    setup: str,
    pool: str,
    level: str,
    layers: str | Sequence | int | None,
    probes: Sequence[str],
    usable: list[tuple[str, str]],
    opts: ProbeOptions,
    where: str | None,
    run: ProbeRun,
    best_cvs: dict,
    progress: Callable[[str], None] | None,
) -> None:
    """Probe one setup and pooling: append its rows to ``run`` and its HeadCVs to ``best_cvs``."""
    sp_all = [
        s
        for s in store.spaces(setup_key=setup)
        if s.level == level and (level == "window" or s.pooling == pool)
    ]
    if not sp_all:
        _log(progress, f"skip {setup}/{pool}: not in the store")
        return
    lay, mix = parse_layers(layers, [s.layer for s in sp_all], [s.layer_name for s in sp_all])
    need = sorted({s.layer for s in sp_all}) if mix else lay
    t_sub, X_all, spaces = task_features(
        store, task, setup, level=level, pooling=pool, layers=need, where=where
    )
    layer_ids = [s.layer for s in spaces]
    names = {s.layer: s.layer_name for s in spaces}
    sel = [i for i, li in enumerate(layer_ids) if li in lay]
    Xin = select_layers(X_all, sel)
    sel_layers = [layer_ids[i] for i in sel]
    if t_sub.n < 4:
        raise ConfigError(f"only {t_sub.n} labelled recordings have {setup} embeddings")
    folds = make_folds(t_sub, opts)
    _check_rankable(t_sub, folds)
    _log(
        progress,
        f"{setup}/{pool}: {t_sub.n} recordings, {len(folds)} folds grouped by {t_sub.group_by}, "
        f"layers {sel_layers[0] if sel_layers else '-'}..{sel_layers[-1] if sel_layers else '-'}"
        + (" + mix" if mix else ""),
    )
    base = {
        "setup": setup,
        "encoder": spaces[0].encoder,
        "pooling": pool,
        "level": level,
        "task": task.name,
        "group_by": task.group_by,
    }

    def add(cv: HeadCV, layer_name: Callable[[object], str]) -> None:
        for r in evaluate_head(cv, t_sub, opts):
            run.rows.append({**base, **r, "layer_name": layer_name(r["layer"])})
        best_cvs[(setup, pool, cv.probe, cv.head)] = (cv, t_sub)

    ridge_ok = any(model_kind(p, h) == "ridge" for p, h in usable) and sel and level == "recording"
    cache = GramCache(Xin) if ridge_ok else None
    computed: dict = {}
    for head in task.heads:
        for r in baseline_rows(t_sub, head, folds, opts):
            run.rows.append({**base, **r, "layer_name": "-"})
        for p in probes:
            kind = model_kind(p, head)
            if kind is None or p == "layermix" or not sel:
                continue
            if (kind, head) not in computed:
                computed.update(
                    _cross_validate(Xin, t_sub, p, kind, head, computed, folds, opts, sel_layers, cache)
                )
                _log(progress, f"  {head} {p} ({kind}): {computed[(kind, head)].seconds:.1f} s")
            cv = computed[(kind, head)]
            if cv.probe != p:  # the same model under another probe name (e.g. linear = ridge here)
                cv = replace(cv, probe=p)
            add(cv, lambda li: names.get(li, str(li)))
        if (mix or "layermix" in probes) and level == "recording" and model_kind("layermix", head):
            cv = cross_validate(
                X_all, t_sub, probe="layermix", head=head, folds=folds, opts=opts, layers=layer_ids
            )
            _log(progress, f"  {head} layermix: {cv.seconds:.1f} s")
            add(cv, lambda li: "mix")
            run.info.setdefault("layer_weights", {})[f"{setup}/{pool}/{head}"] = cv.extra["layer_weights"]


def _cross_validate(
    X: Features,
    task: TaskData,
    probe: str,
    kind: str,
    head: str,
    computed: dict,
    folds: list,
    opts: ProbeOptions,
    layers: list[int],
    cache: GramCache | None,
) -> dict[tuple[str, str], HeadCV]:
    """Cross-validate one (probe, head); a ridge head brings every ridge head of the task not yet computed."""
    if kind == "ridge":
        todo = [h for h in task.heads if model_kind(probe, h) == "ridge" and ("ridge", h) not in computed]
        cvs = cross_validate_many(
            X, [(task, h) for h in todo], probe=probe, folds=folds, opts=opts, layers=layers, cache=cache
        )
        return {("ridge", h): c for h, c in zip(todo, cvs)}
    cv = cross_validate(X, task, probe=probe, head=head, folds=folds, opts=opts, layers=layers)
    return {(kind, head): cv}
