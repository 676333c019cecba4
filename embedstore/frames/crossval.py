"""Grouped cross-validation of the frame models: folds by piece, inner validation split, pooled metrics with CIs.

:func:`cross_validate` trains one model per fold with :func:`embedstore.frames.train.train_frame_model` (extra
training items of the fold's training pieces and of pieces outside the data; never a test or validation piece's)
and scores the held-out clips with :func:`embedstore.frames.evaluate.evaluate_clips`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embedstore.evaluation.splits import check_disjoint, group_kfold
from embedstore.frames.evaluate import evaluate_clips
from embedstore.frames.inference import postprocess_item, predict_activations, with_dynamics_from
from embedstore.frames.items import FrameItem, split_train_val
from embedstore.frames.train import TrainConfig, train_frame_model


def cross_validate(
    items: list[FrameItem],
    *,
    config: TrainConfig | None = None,
    n_splits: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    log: Callable[[str], None] | None = None,
    extra_items: list[FrameItem] | None = None,
    blend_with: dict[str, dict] | None = None,
    on_fold: Callable[[dict], None] | None = None,
    dynamics_config: TrainConfig | None = None,
) -> dict:
    """Grouped k-fold CV by ``item.group``; returns pooled metrics with CIs, per-fold metrics and timings.

    Parameters
    ----------
    extra_items : list of FrameItem, optional
        Extra training audio (longer excerpts, tempo/velocity variants) grouped by piece like ``items``: a fold
        trains on the extras of its inner *training* pieces, never on those of its test pieces nor of its inner
        validation pieces (the validation split holds ``items`` only), and on those of pieces outside ``items``
        (e.g. a synthetic collection), which no fold tests. Never scored.
    blend_with : dict, optional
        Another tracker's ``beat`` / ``downbeat`` activations per item key (same frame grid): each fold also
        scores :func:`embedstore.frames.ensemble.blend` of ours and those, the weight chosen on the inner
        validation clips (``metrics_blend``, ``clips_blend``; decoded with ``beat_method="madmom"``).
    dynamics_config : TrainConfig, optional
        Also train this model per fold (same training and validation items) and take the dynamics probabilities
        from it (:func:`~embedstore.frames.inference.with_dynamics_from`), as ``train-frames --dynamics-model``
        saves it; the other tasks stay with ``config``'s model.
    on_fold : callable, optional
        Called after each fold's training with ``{"fold", "result" (TrainResult), "test_groups", "blend"}``, e.g.
        to score the fold's model on other clips of its test pieces.

    Returns
    -------
    dict with ``metrics`` (task -> value/ci_low/ci_high/n), ``folds`` (per fold: metrics, best_epoch, thresholds,
    seconds, hours of training audio), ``n_parameters``, ``n_items``, ``n_groups``, ``config``.
    """
    from embedstore.frames.ensemble import blend, tune_blend
    from embedstore.frames.models import count_parameters
    from embedstore.frames.postprocess import dbn_options

    cfg = config or TrainConfig()
    groups = np.array([it.group for it in items])
    folds = group_kfold(groups, n_splits=n_splits, seed=seed)
    clips: list[dict | None] = [None] * len(items)
    clips_blend: list[dict | None] = [None] * len(items)
    fold_info = []
    n_params = None
    for f, (tr, te) in enumerate(folds):
        check_disjoint(groups, tr, te)
        train_all = [items[i] for i in tr]
        train, val = split_train_val(train_all, val_fraction=cfg.val_fraction, seed=seed + f)
        n_orig = len(train)
        if extra_items:
            held_out = set(groups.tolist()) - {it.group for it in train}  # test + inner validation pieces
            train = train + [e for e in extra_items if e.group not in held_out]
        res = train_frame_model(train, config=cfg, val_items=val)
        n_params = count_parameters(res.model)
        dyn_model = None
        if dynamics_config is not None:
            dyn_model = train_frame_model(train, config=dynamics_config, val_items=val).model
            n_params += count_parameters(dyn_model)
        blend_info = None
        if blend_with is not None:
            dbn = dbn_options(res.thresholds)
            blend_info = tune_blend(
                [predict_activations(res.model, it.features, frame_rate=it.frame_rate) for it in val],
                [blend_with[it.key] for it in val],
                [it.reference() for it in val],
                frame_rate=val[0].frame_rate,
                dbn=dbn,
            )
        if on_fold is not None:
            on_fold({"fold": f, "result": res, "test_groups": set(groups[te]), "blend": blend_info})
        fold_clips = []
        for i in te:
            it = items[i]
            act = predict_activations(res.model, it.features, frame_rate=it.frame_rate)
            act = with_dynamics_from(act, dyn_model, it.features, frame_rate=it.frame_rate)
            est = postprocess_item(
                act, frame_rate=it.frame_rate, thresholds=res.thresholds, beat_method=cfg.beat_method
            )
            clips[i] = {"key": it.key, "ref": it.reference(), "est": est, "fold": f}
            fold_clips.append(clips[i])
            if blend_info is not None and blend_with is not None:
                mix = blend(act, blend_with[it.key], blend_info["weight"])
                est_b = postprocess_item(
                    mix, frame_rate=it.frame_rate, thresholds=res.thresholds, beat_method="madmom"
                )
                clips_blend[i] = {"key": it.key, "ref": it.reference(), "est": est_b, "fold": f}
        fm = evaluate_clips(fold_clips, n_boot=0)
        fold_info.append(
            {
                "fold": f,
                "n_train": n_orig,
                "n_train_extra": len(train) - n_orig,
                "hours_train": round(sum(it.duration for it in train) / 3600, 3),
                "blend": blend_info,
                "n_val": len(val),
                "n_test": len(te),
                "best_epoch": res.best_epoch,
                "epochs_run": len(res.history),
                "thresholds": res.thresholds,
                "seconds": round(res.seconds, 1),
                "metrics": {k: v["value"] for k, v in fm.items()},
            }
        )
        if log is not None:
            log(
                f"fold {f}: "
                + ", ".join(f"{k} {v['value']:.3f}" for k, v in fm.items())
                + f" (best epoch {res.best_epoch}, {res.seconds:.0f} s)"
            )
    metrics = evaluate_clips(clips, groups=groups, n_boot=n_boot, seed=seed)
    out_blend = {}
    if blend_with is not None:
        out_blend = {
            "metrics_blend": evaluate_clips(clips_blend, groups=groups, n_boot=n_boot, seed=seed),
            "clips_blend": clips_blend,
        }
    return {
        **out_blend,
        "metrics": metrics,
        "folds": fold_info,
        "n_parameters": n_params,
        "n_items": len(items),
        "n_groups": int(len(set(groups))),
        "config": cfg.as_dict(),
        **({"dynamics_config": dynamics_config.as_dict()} if dynamics_config is not None else {}),
        "clips": clips,
    }
