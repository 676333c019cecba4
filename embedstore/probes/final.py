"""Final models: refit the best probe of each head on every labelled row and build a saveable :class:`Probe`.

The setup and pooling are those of the first head's best row; each head then takes its best probe and layer
within that setup/pooling (by the primary metric of its cross-validated rows, whose scores travel in the probe's
config). Model selection of the refit uses an inner grouped split of all rows, as in every training fold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from embedstore.probes.crossval import fit_final
from embedstore.probes.inputs import task_features
from embedstore.probes.models import ProbeOptions
from embedstore.probes.persist import Probe
from embedstore.probes.scoring import best_row
from embedstore.probes.tasks import TaskData

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Space, Store


def _cv_scores(rows: list[dict], head: str, best: dict) -> dict[str, dict]:
    """The cross-validated scores of the chosen (probe, layer): ``{metric or target/metric: value and CI}``."""
    return {
        r["metric"] if not r["target"] else f"{r['target']}/{r['metric']}": {
            "value": r["value"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
        }
        for r in rows
        if r["head"] == head and r["probe"] == best["probe"] and r["layer"] == best["layer"]
    }


def save_best(
    store: Store, task: TaskData, rows: list[dict], *, opts: ProbeOptions, where: str | None = None
) -> Probe | None:
    """Refit the best (probe, layer) of each head on all labelled rows and return the :class:`Probe`.

    Parameters
    ----------
    store : the store the rows were computed on; task : the task
    rows : result rows of :func:`~embedstore.probes.run.run_probe`
    opts : options (inner split, training); where : SQL filter on the recordings

    Returns
    -------
    the probe (not yet saved: call :meth:`Probe.save`), or None when no head has a usable row
    """
    first = best_row(rows, task.heads[0])
    if first is None:
        return None
    setup, pool, level = first["setup"], first["pooling"], first["level"]
    spaces = [
        s
        for s in store.spaces(setup_key=setup)
        if s.level == level and (level == "window" or s.pooling == pool)
    ]
    tensors: dict[str, np.ndarray] = {}
    heads_cfg: dict[str, dict] = {}
    rows_sp = [r for r in rows if r["setup"] == setup and r["pooling"] == pool]
    for head in task.heads:
        b = best_row(rows_sp, head)
        if b is None:
            continue
        mixed = b["probe"] == "layermix" or b["layer"] == "mix"
        need = sorted(s.layer for s in spaces) if mixed else [int(b["layer"])]
        t_sub, Xin, sps = task_features(
            store, task, setup, level=level, pooling=pool, layers=need, where=where
        )
        kind, params, hp = fit_final(Xin, t_sub, probe=b["probe"], head=head, opts=opts)
        for k, v in params.items():
            tensors[f"{head}.{k}"] = np.asarray(v, dtype=np.float32)
        logits = kind in ("logistic", "mlp", "layermix", "attention") and head in (
            "classification",
            "multilabel",
        )
        heads_cfg[head] = {
            "probe": b["probe"],
            "kind": kind,
            "layers": need,
            "outputs": "logits" if logits else "values",
            "layer_names": [s.layer_name for s in sps],
            "hyper": np.asarray(hp).tolist(),
            "cv": _cv_scores(rows_sp, head, b),
            "trained_on": int(t_sub.n),
        }
    if not heads_cfg:
        return None
    return Probe(_config(store, task, first, spaces, heads_cfg, opts), tensors)


def _config(
    store: Store, task: TaskData, first: dict, spaces: list[Space], heads_cfg: dict, opts: ProbeOptions
) -> dict:
    """The saved probe's config (see :class:`~embedstore.probes.persist.Probe`)."""
    prov = dict(spaces[0].provenance)
    for k in ("layer", "level", "pooling"):
        prov.pop(k, None)
    return {
        "task": task.name,
        "heads": heads_cfg,
        "target_names": list(task.target_names),
        "classes": list(task.classes) if task.classes is not None else None,
        "group_by": task.group_by,
        "setup_key": first["setup"],
        "encoder": first["encoder"],
        "level": first["level"],
        "pooling": first["pooling"],
        "window_s": spaces[0].window_s,
        "hop_s": spaces[0].hop_s,
        "provenance": prov,
        "store": store.uri,
        "n_splits": opts.n_splits,
        "seed": opts.seed,
    }
