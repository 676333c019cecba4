"""Grouped-CV benchmark of the frame-level probes on asap-dev: beats, downbeats, dynamics, change points.

For each encoder (``bssl``, ``logmel``) and model (``linear`` frame probe, ``msn-mmoe`` multi-task network):
k-fold cross-validation grouped by piece (``piece_id``), early stopping on an inner split of each training part,
out-of-fold predictions post-processed (DBN beat tracker, downbeats from beats, peak-picked change points,
dynamics smoothed per beat) and scored with mir_eval (beats/downbeats: F-measure, +-70 ms), frame-level
dynamics macro-F1 and change-point F1 (+-0.5 s), with 95 % bootstrap CIs over pieces.

Dynamics levels and change points are DERIVED from the MIDI velocities (see embedstore.frames.targets).
The audio is synthetic (one soundfont), so the numbers are not comparable to results on real recordings.

Usage::

    python bench/bench_frames.py                      # defaults: 5 folds, both encoders, both models
    python bench/bench_frames.py --epochs 4 --folds 3 # quicker

Writes ``bench/results/frames.json`` and ``bench/results/frames.md``. Frame features are memoised in the user cache
(``embedstore.config.cache_dir()/frames``), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TASKS = ("beat", "downbeat", "dynamics", "change", "change_from_levels")


def load_extra(spec: str, enc: str, held_out: set, args: dict) -> list:
    """Extra training items of the manifests in ``spec`` (comma-separated), except those of a ``held_out`` piece:
    extras of the data's other pieces and of pieces outside the data (e.g. ``bench/frames_synth.py``) are kept."""
    from frames_data import bench_items

    out = []
    for m in (x.strip() for x in spec.split(",") if x.strip()):
        out += [
            it for it in bench_items(m, enc, num_models=args["madmom_models"]) if it.group not in held_out
        ]
    return out


def run_combo(manifest: str, enc: str, kind: str, args: dict) -> list[tuple[dict, dict]]:
    """Cross-validate one (encoder, model); returns the result rows (ours, and the blend with madmom's activations
    when asked) and a description of the targets. ``kind`` may end in ``:extra`` (train on the extra audio too) and/or
    ``:blend`` (also score the blend with madmom's activations)."""
    import numpy as np
    import torch
    from frames_data import bench_items, madmom_acts, own_acts

    from embedstore.frames.crossval import cross_validate
    from embedstore.frames.ensemble import BLEND_WEIGHTS
    from embedstore.frames.models import build_model, count_parameters
    from embedstore.frames.train import TrainConfig

    torch.set_num_threads(args["threads"])
    t0 = time.perf_counter()
    long_test = None
    if args.get("test_long"):
        from frames_long import LongTest

        long_test = LongTest(
            args["test_long"], enc, num_models=args["madmom_models"], beat_method=args["beat_method"]
        )
    spec = kind
    kind, *flags = spec.split(":")
    use_extra = "extra" in flags
    # dynamics from a second model trained per fold on the same data (``train-frames --dynamics-model KIND``)
    dyn_kind = next((f.removeprefix("dyn-") for f in flags if f.startswith("dyn-")), None)
    # blend with madmom's 8-network mean (``blend``) or with the features' own madmom networks (``blendself``)
    blend_src = (
        "self"
        if "blendself" in flags
        else "madmom8"
        if "blend" in flags or args.get("blend_madmom")
        else None
    )
    items = bench_items(manifest, enc, limit=args["limit"], num_models=args["madmom_models"])
    if long_test is not None and blend_src == "self":
        long_test.blend_source = enc
    extra = []
    if use_extra:
        if not args.get("train_extra"):
            raise SystemExit(f"model {spec!r} needs --train-extra")
        # all extras: each fold drops those of its test and inner validation pieces (cross_validate)
        extra = load_extra(args["train_extra"], enc, set(), args)
    dim = items[0].features.shape[1]
    t_feat = time.perf_counter() - t0
    tag = f"[{enc} {spec}]"
    if extra:
        print(f"{tag} {len(extra)} extra clips, {sum(e.duration for e in extra) / 3600:.2f} h", flush=True)
    print(
        f"{tag} {len(items)} clips, {sum(it.n_frames for it in items)} frames of {dim}-d features "
        f"({t_feat:.0f} s)",
        flush=True,
    )
    msn = kind == "msn-mmoe"
    cfg = TrainConfig(
        model=kind,
        epochs=args["epochs"] if msn else args["linear_epochs"],
        lr=args["msn_lr"] if msn else None,
        patience=args["patience"],
        batch_size=args["batch_size"],
        seed=args["seed"],
        threads=args["threads"],
        beat_method=args["beat_method"],
        monitor=args["monitor"],
        max_pos_weight=args["max_pos_weight"],
    )
    dyn_cfg = None
    if dyn_kind is not None:
        from dataclasses import replace

        dyn_msn = dyn_kind == "msn-mmoe"
        dyn_cfg = replace(
            cfg,
            model=dyn_kind,
            epochs=args["epochs"] if dyn_msn else args["linear_epochs"],
            lr=args["msn_lr"] if dyn_msn else None,
        )
    t1 = time.perf_counter()
    cv = cross_validate(
        items,
        config=cfg,
        n_splits=args["folds"],
        seed=args["seed"],
        n_boot=args["n_boot"],
        log=lambda s: print(f"{tag} {s}", flush=True),
        extra_items=extra or None,
        blend_with=None
        if blend_src is None
        else madmom_acts(items)
        if blend_src == "madmom8"
        else own_acts(items, enc),
        on_fold=long_test.on_fold if long_test else None,
        dynamics_config=dyn_cfg,
    )
    secs = time.perf_counter() - t1
    row = {
        "encoder": enc,
        "model": kind
        + (" + extra audio" if extra else "")
        + (f" (dynamics: {dyn_kind})" if dyn_kind else ""),
        "n_parameters": count_parameters(build_model(kind, dim))
        + (count_parameters(build_model(dyn_kind, dim)) if dyn_kind else 0),
        "feature_dim": dim,
        "decoder": args["beat_method"],
        "hours_train_mean": round(float(np.mean([f["hours_train"] for f in cv["folds"]])), 3),
        "hours_train_folds": [f["hours_train"] for f in cv["folds"]],
        "train_extra": args.get("train_extra") if extra else None,
        "metrics": cv["metrics"],
        "folds": cv["folds"],
        "n_items": cv["n_items"],
        "n_groups": cv["n_groups"],
        "seconds_cv": round(secs, 1),
        "seconds_features": round(t_feat, 1),
        "config": cv["config"],
    }
    print(
        f"{tag} "
        + ", ".join(f"{t} {cv['metrics'][t]['value']:.3f}" for t in TASKS if t in cv["metrics"])
        + f" ({secs:.0f} s)",
        flush=True,
    )
    m_long = m_long_blend = None
    if long_test is not None:
        m_long, m_long_blend = long_test.metrics(n_boot=args["n_boot"], seed=args["seed"])
        row["metrics_long"] = m_long
    rows = [row]
    if "metrics_blend" in cv:
        rows.append(
            {
                **{k: v for k, v in row.items() if k not in ("metrics", "folds")},
                "model": row["model"] + (" x own madmom blend" if blend_src == "self" else " x madmom blend"),
                "metrics": cv["metrics_blend"],
                "metrics_long": m_long_blend,
                "blend_weights": [f["blend"]["weight"] for f in cv["folds"]],
                "description": "beat/downbeat activations = w * ours + (1 - w) * "
                + (
                    f"madmom's activations already in the features ({args['madmom_models']} networks; what a saved "
                    "model of `train-frames --blend` does, no extra cost)"
                    if blend_src == "self"
                    else "madmom's 8-network mean"
                )
                + f", w of {{{', '.join(f'{w:g}' for w in BLEND_WEIGHTS)}}} chosen per fold on the inner validation "
                "clips (decoder settings: ours), per fold w = "
                + json.dumps([f["blend"]["weight"] for f in cv["folds"]]),
            }
        )
    from embedstore.frames.evaluate import meter_of

    lv = np.concatenate([it.target_arrays()["dynamics"] for it in items])
    lv = lv[lv >= 0]
    meters = [meter_of(it.targets.beats, it.targets.downbeats) for it in items]
    targets = {
        "reference_meters": {str(k): meters.count(k) for k in sorted(set(meters), key=str)},
        "n_clips": len(items),
        "n_pieces": len({it.group for it in items}),
        "dynamics_level_share": (np.bincount(lv, minlength=6) / max(len(lv), 1)).round(4).tolist(),
        "change_points_per_clip_mean": float(np.mean([len(it.targets.change_points) for it in items])),
        "beats_per_clip_mean": float(np.mean([len(it.targets.beats) for it in items])),
        "note": "dynamics levels and change points are DERIVED from MIDI velocities (embedstore.frames.targets)",
    }
    return [(r, targets) for r in rows]


def chance_baselines(manifest: str, args: dict) -> dict:
    """Scores of trivial guesses (optimistic chance levels): beats on a regular grid at the data's median beat period
    from time 0 (every clip starts on a downbeat), every 4th of them as downbeats, the most common dynamics level
    everywhere, change points on the regular grid (1-6 s) that scores best."""
    import numpy as np

    from embedstore.frames.evaluate import evaluate_clips
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import load_items

    items = load_items(manifest, FrameFeaturizer(encoder="bssl"), limit=args["limit"], cache=True)
    period = float(np.median(np.concatenate([np.diff(it.targets.beats) for it in items])))
    lv = np.concatenate([it.target_arrays()["dynamics"] for it in items])
    major = int(np.bincount(lv[lv >= 0]).argmax())
    best = None
    for cp in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0):
        clips = []
        for it in items:
            grid = np.arange(0.0, it.duration, period)
            est = {
                "beats": grid,
                "downbeats": grid[::4],
                "levels": np.full(it.n_frames, major),
                "change_points": np.arange(cp, it.duration, cp),
            }
            clips.append({"ref": it.reference(), "est": est})
        m = evaluate_clips(clips, groups=[it.group for it in items], n_boot=0)
        if best is None or m["change"]["value"] > best[2]:
            best = (cp, clips, m["change"]["value"])
    best = (
        best[0],
        evaluate_clips(best[1], groups=[it.group for it in items], n_boot=args["n_boot"], seed=args["seed"]),
    )
    m_long = None
    if args.get("test_long"):
        from frames_long import chance_long

        m_long = chance_long(
            args["test_long"],
            period=period,
            num_models=args["madmom_models"],
            n_boot=args["n_boot"],
            seed=args["seed"],
        )
    return {
        "metrics_long": m_long,
        "encoder": "-",
        "model": "chance",
        "n_parameters": 0,
        "metrics": best[1],
        "seconds_cv": 0.0,
        "description": f"beats every {period:.3f} s from 0, every 4th a downbeat, dynamics always "
        f"{major} (0=pp), change points every {best[0]:g} s (best grid)",
    }


def dsp_beat_baseline(manifest: str, args: dict) -> dict:
    """An untrained reference: librosa's dynamic-programming beat tracker (onset strength, Ellis 2007)."""
    import librosa
    import numpy as np

    from embedstore.audio import load_audio
    from embedstore.frames.evaluate import evaluate_clips
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import load_items

    items = load_items(manifest, FrameFeaturizer(encoder="bssl"), limit=args["limit"], cache=True)
    t0 = time.perf_counter()
    clips = []
    for it in items:
        a = load_audio(it.path)
        _, beats = librosa.beat.beat_track(y=a.samples, sr=a.sample_rate, units="time")
        clips.append({"ref": {"beats": it.targets.beats}, "est": {"beats": np.asarray(beats)}})
    m = evaluate_clips(clips, groups=[it.group for it in items], n_boot=args["n_boot"], seed=args["seed"])
    return {
        "encoder": "-",
        "model": "librosa beat_track",
        "n_parameters": 0,
        "metrics": m,
        "seconds_cv": round(time.perf_counter() - t0, 1),
        "description": "untrained DSP beat tracker (librosa.beat.beat_track, default settings), beats only",
    }


def madmom_baseline(manifest: str, args: dict, *, tuned: bool) -> dict:
    """madmom's RNN downbeat ensemble (all 8 networks) + its DBN bar tracker: with the CLI defaults (meters 3 and 4,
    55-215 beats/min), or with meters 2/3/4 and the tempo range / tempo-change penalty chosen per fold on an inner
    split of the training pieces (:func:`embedstore.frames.train.tune_dbn`). No training."""
    import numpy as np
    from frames_data import bench_items, madmom_outputs

    from embedstore.encoders.madmom_rnn import pool2, track_downbeats
    from embedstore.evaluation.splits import group_kfold
    from embedstore.frames.evaluate import evaluate_clips
    from embedstore.frames.items import split_train_val
    from embedstore.frames.postprocess import tune_dbn

    items = bench_items(manifest, "bssl", limit=args["limit"])
    acts = []
    for it in items:
        a = madmom_outputs(it.path).mean(axis=0)
        p = pool2(np.stack([a[:, 0] + a[:, 1], a[:, 1]], axis=1))
        acts.append(p)
    t0 = time.perf_counter()
    groups = np.array([it.group for it in items])
    clips: list = [None] * len(items)
    settings = []
    lt = None
    if args.get("test_long"):
        from frames_long import LongTest

        lt = LongTest(args["test_long"], None, num_models=args["madmom_models"])
    for f, (tr, te) in enumerate(group_kfold(groups, n_splits=args["folds"], seed=args["seed"])):
        opts = {"beats_per_bar": (3, 4)}
        if tuned:
            _, val = split_train_val([items[i] for i in tr], val_fraction=0.2, seed=args["seed"] + f)
            idx = {it.key: i for i, it in enumerate(items)}
            vi = [idx[it.key] for it in val]
            opts = tune_dbn(
                [acts[i][:, 0] for i in vi],
                [acts[i][:, 1] for i in vi],
                [items[i].reference() for i in vi],
                50.0,
            )
            settings.append(opts)
        if lt is not None:
            for it in lt.test_items(set(groups[te])):
                a = lt.madmom[it.key]
                b, d = track_downbeats(a["beat"], a["downbeat"], frame_rate=50.0, **opts)
                lt.add(it, {"beats": b, "downbeats": d})
        for i in te:
            b, d = track_downbeats(acts[i][:, 0], acts[i][:, 1], frame_rate=50.0, **opts)
            clips[i] = {
                "ref": {"beats": items[i].targets.beats, "downbeats": items[i].targets.downbeats},
                "est": {"beats": b, "downbeats": d},
            }
    m = evaluate_clips(clips, groups=list(groups), n_boot=args["n_boot"], seed=args["seed"])
    desc = "madmom RNNDownBeatProcessor (8 networks) + DBNDownBeatTrackingProcessor"
    desc += (
        ", meters 2/3/4, tempo range and penalty tuned per fold on inner splits: " + json.dumps(settings)
        if tuned
        else ", CLI defaults (meters 3/4, 55-215 bpm, lambda 100)"
    )
    return {
        "metrics_long": lt.score(lt.clips, n_boot=args["n_boot"], seed=args["seed"]) if lt else None,
        "encoder": "madmom (8 nets)",
        "model": "madmom RNN + DBN" + (" (tuned)" if tuned else ""),
        "n_parameters": 0,
        "metrics": m,
        "seconds_cv": round(time.perf_counter() - t0, 1),
        "description": desc,
    }


def train_final(manifest: str, row: dict, args: dict, out: str) -> dict:
    """Train the given (encoder, model) row's recipe on all clips (inner validation split for early stopping,
    thresholds and the decoder's settings) and save it where ``embedstore frames`` finds its default model."""
    import torch
    from frames_data import bench_items

    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import split_train_val
    from embedstore.frames.persist import save_frame_model
    from embedstore.frames.train import TrainConfig, train_frame_model

    torch.set_num_threads(args["threads"])
    enc = row["encoder"]
    items = bench_items(manifest, enc, limit=args["limit"], num_models=args["madmom_models"])
    cfg = TrainConfig(**{k: v for k, v in row["config"].items() if k != "lr"}, lr=row["config"]["lr"])
    train, val = split_train_val(items, val_fraction=cfg.val_fraction, seed=cfg.seed)
    n_orig = len(train)
    if row.get("train_extra"):  # never the extras of a validation piece (the validation pieces stay unseen)
        train = train + load_extra(row["train_extra"], enc, {it.group for it in val}, args)
    res = train_frame_model(train, config=cfg, val_items=val)
    parts = enc.split("+")
    kw = {"num_models": args["madmom_models"]} if "madmom" in parts and args["madmom_models"] != 8 else {}
    if kw and len(parts) > 1:
        kw = {"madmom": kw}
    fz = FrameFeaturizer(encoder=enc, encoder_kwargs=kw)
    save_frame_model(
        out,
        res.model,
        fz,
        thresholds=res.thresholds,
        beat_method=cfg.beat_method,
        training={
            "config": cfg.as_dict(),
            "data": manifest,
            "train_extra": row.get("train_extra"),
            "hours_train": round(sum(it.duration for it in train) / 3600, 3),
            "n_train": n_orig,
            "n_train_extra": len(train) - n_orig,
            "n_val": len(val),
            "best_epoch": res.best_epoch,
            "note": "trained by bench/bench_frames.py --save-default",
        },
    )
    return {"out": out, "encoder": enc, "model": row["model"], "thresholds": res.thresholds}


def _baselines(manifest: str, a: dict) -> list[dict]:
    rows = [chance_baselines(manifest, a), dsp_beat_baseline(manifest, a)]
    if not a["no_madmom_baseline"]:
        rows += [madmom_baseline(manifest, a, tuned=False), madmom_baseline(manifest, a, tuned=True)]
    for r in rows:
        print(
            f"[{r['model']}] " + ", ".join(f"{k} {v['value']:.3f}" for k, v in r["metrics"].items()),
            flush=True,
        )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="manifest (default: ../shared/data/asap-dev/manifest.csv)")
    ap.add_argument("--encoders", default="madmom+bssl,bssl")
    ap.add_argument(
        "--models",
        default="linear,msn-mmoe",
        help="KIND[:extra][:blend|:blendself][:dyn-KIND], comma-separated; dyn-KIND: dynamics from a second model "
        "of that kind trained per fold on the same data (train-frames --dynamics-model)",
    )
    ap.add_argument("--beat-method", default="madmom", help="decoder of our models: madmom, dbn or peaks")
    ap.add_argument("--madmom-models", type=int, default=8, help="networks of the madmom encoder (1-8)")
    ap.add_argument("--no-madmom-baseline", action="store_true")
    ap.add_argument(
        "--max-pos-weight",
        type=float,
        default=100.0,
        help="cap of the positive-class weight of the binary tasks (1: calibrated probabilities, which "
        "madmom's DBN expects)",
    )
    ap.add_argument(
        "--save-default",
        default=None,
        help="train the best of our models on all clips and save it to this folder (e.g. the default model)",
    )
    ap.add_argument(
        "--monitor",
        default="score",
        help="early stopping on the validation score (decodes every epoch) or loss (cheaper)",
    )
    ap.add_argument(
        "--cached-only",
        action="store_true",
        help="only the pieces whose clips all have madmom outputs in the cache (bench/frames_data.py)",
    )
    ap.add_argument(
        "--train-extra",
        default=None,
        help="extra training manifests (comma-separated; bench/frames_renders.py) used by the models named "
        "KIND:extra in --models (e.g. linear:extra); a fold never uses the extras of its test or inner validation "
        "pieces (those of pieces outside the data, e.g. bench/frames_synth.py, train every fold)",
    )
    ap.add_argument(
        "--blend-madmom",
        action="store_true",
        help="also score each of our models blended with madmom's activations (weight chosen on inner splits; "
        "per model: KIND:blend in --models)",
    )
    ap.add_argument(
        "--test-long",
        default=None,
        help="also decode these long excerpts of each fold's held-out pieces (bench/frames_renders.py --long-test)",
    )
    ap.add_argument(
        "--group-by",
        choices=("piece", "performance"),
        default="piece",
        help="fold grouping: piece (default: unseen pieces in every test fold) or performance (diagnostic only: "
        "other performances of a test piece are in training, as in benchmarks split by performance)",
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20, help="maximum epochs of msn-mmoe")
    ap.add_argument(
        "--msn-lr",
        type=float,
        default=1e-3,
        help="AdamW learning rate of msn-mmoe (the paper's and "
        "the library's default is 3e-4, which needs about twice the epochs to reach the same "
        "validation scores; 1e-3 keeps the benchmark within ~20 min)",
    )
    ap.add_argument("--linear-epochs", type=int, default=40, help="maximum epochs of the linear probe")
    ap.add_argument("--patience", type=int, default=5, help="early stopping on the validation score")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    ap.add_argument("--jobs", type=int, default=2, help="(encoder, model) runs in parallel processes")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per process (1 is fastest on a busy "
        "machine: OpenMP threads wait on each other when cores are shared)",
    )
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "frames"))
    args = ap.parse_args(argv)

    import torch
    from frames_data import dev_manifest

    from embedstore.utils import machine_description

    manifest = dev_manifest(args.data)
    if manifest is None:
        print("../shared data not found (set EMBEDSTORE_SHARED)", file=sys.stderr)
        return 2
    if args.cached_only:
        from frames_data import cached_manifest

        manifest = cached_manifest(manifest)
    if args.group_by == "performance":
        from frames_data import performance_grouped

        if args.test_long:
            print("--test-long is grouped by piece; not with --group-by performance", file=sys.stderr)
            return 2
        manifest = performance_grouped(manifest)
        if args.train_extra:
            args.train_extra = ",".join(
                str(performance_grouped(m.strip())) for m in args.train_extra.split(",") if m.strip()
            )
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    # slowest first so that parallel jobs finish together
    combos = sorted(((e, k) for e in encoders for k in models), key=lambda c: not c[1].startswith("msn-mmoe"))
    t_all = time.perf_counter()
    a = vars(args)
    # compute (and cache) each encoder's features once before the parallel runs read them
    from frames_data import bench_items

    for enc in encoders:
        t0 = time.perf_counter()
        bench_items(manifest, enc, limit=args.limit, num_models=args.madmom_models)
        print(f"[{enc}] features ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.jobs > 1 and len(combos) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(run_combo, str(manifest), e, k, a) for e, k in combos]
            baselines = _baselines(str(manifest), a)
            done = [rt for f in futs for rt in f.result()]
    else:
        done = [rt for e, k in combos for rt in run_combo(str(manifest), e, k, a)]
        baselines = _baselines(str(manifest), a)
    results = [r for r, _ in done]
    results = baselines + results
    targets = done[-1][1]
    out = {
        "benchmark": "frames",
        "data": str(manifest),
        "n_clips": targets["n_clips"],
        "n_pieces": targets["n_pieces"],
        "folds": args.folds,
        "grouping": "piece_id" if args.group_by == "piece" else "performance (piece_id|performer_code)",
        "metrics": {
            "beat": "mir_eval beat F-measure, +-70 ms, mean over clips (DBN beat tracker)",
            "downbeat": "mir_eval beat F-measure on downbeats, +-70 ms, mean over clips (meter/phase from beats)",
            "dynamics": "frame-level macro F1 over the 6 derived levels pp..ff, pooled frames (smoothed per beat)",
            "change": "change-point F1, one-to-one matching within +-0.5 s, pooled counts (peak picking of the "
            "change-point head, threshold tuned on the inner validation split)",
            "change_from_levels": "the same F1 for the changes of the predicted per-beat dynamics levels",
            "ci": f"95 % percentile bootstrap over pieces ({args.n_boot} resamples)",
        },
        "targets": targets,
        "settings": a,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "jobs": args.jobs,
            "threads": args.threads,
            "description": machine_description(),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "command": "python bench/bench_frames.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": _commit(),
        "seconds_total": round(time.perf_counter() - t_all, 1),
        "results": results,
    }
    if args.save_default:
        ours = [
            r for r in results if "config" in r and "blend_weights" not in r
        ]  # a blend needs madmom's 8 nets
        best = max(ours, key=lambda r: r["metrics"]["beat"]["value"] + r["metrics"]["downbeat"]["value"])
        out["default_model"] = train_final(str(manifest), best, a, args.save_default)
        print(f"default model: {out['default_model']}", flush=True)
    outp = Path(args.out)
    outp.parent.mkdir(parents=True, exist_ok=True)
    outp.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    from frames_report import markdown

    outp.with_suffix(".md").write_text(markdown(out))
    print(markdown(out))
    return 0


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
