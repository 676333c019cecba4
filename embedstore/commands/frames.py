"""`embedstore train-frames` and `embedstore frames`: frame-level dynamics, change points, beats and downbeats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore.commands._common import console, err_console, handle_errors, print_json


@handle_errors
def train_frames(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="Manifest (CSV/JSON with audio, beats, downbeats, midi/notes, t0) or a store directory.",
        ),
    ],
    extra: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra",
            help="Extra training manifest (repeatable; e.g. longer excerpts and tempo/velocity variants written by "
            "bench/frames_renders.py, synthetic pieces by bench/frames_synth.py): its clips are added to training, "
            "except those of the validation split's pieces.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (config.json + model.safetensors); default: the default model of "
            "`embedstore frames` ($EMBEDSTORE_FRAMES_MODEL or <cache>/models/frames-default).",
        ),
    ] = None,
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder",
            "-e",
            help="Frame features: bssl, logmel, madmom (extra 'madmom'), ..., hf:/path, or a combination "
            "joined by '+', e.g. madmom+bssl.",
        ),
    ] = "bssl",
    beat_method: Annotated[
        str,
        typer.Option(
            help="Beat/downbeat decoder: dbn (ours), madmom (madmom's DBN bar tracker; tempo range and penalty "
            "chosen on the validation split) or peaks."
        ),
    ] = "dbn",
    madmom_models: Annotated[
        int,
        typer.Option(help="Networks of madmom's ensemble used by the madmom encoder (1-8; fewer: faster)."),
    ] = 8,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="msn-mmoe (multi-task CNN + MMoE), tcn (dilated temporal CNN, ~11 k parameters) or linear "
            "(per-task frame probe).",
        ),
    ] = "msn-mmoe",
    dynamics_model: Annotated[
        str | None,
        typer.Option(
            "--dynamics-model",
            help="Also train a model of this kind (msn-mmoe, tcn, linear) on the same data and take the dynamics "
            "levels from it, the other tasks from --model (e.g. --model linear --dynamics-model tcn: the best "
            "beat/downbeat and the best dynamics rows of bench/results/frames.md); saved in OUT/dynamics.",
        ),
    ] = None,
    layer: Annotated[int, typer.Option(help="Encoder layer (negative counts from the last).")] = -1,
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping on an inner split).")] = 60,
    lr: Annotated[
        float | None, typer.Option(help="AdamW learning rate (default 3e-4 msn-mmoe, 3e-3 linear).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Segments per batch.")] = 4,
    segment: Annotated[float, typer.Option(help="Training segment length, seconds.")] = 60.0,
    hop: Annotated[float, typer.Option(help="Hop between training segments, seconds.")] = 30.0,
    patience: Annotated[int, typer.Option(help="Early-stopping patience, epochs.")] = 6,
    monitor: Annotated[
        str, typer.Option(help="Early stopping on the validation score (decodes every epoch) or loss.")
    ] = "score",
    max_pos_weight: Annotated[
        float,
        typer.Option(
            help="Cap of the positive-class weight of beats/downbeats/changes (1: calibrated probabilities)."
        ),
    ] = 100.0,
    where: Annotated[str | None, typer.Option(help="SQL filter on the store's recordings.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N recordings.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache", help="Memoise frame features in the user cache (never in the repository)."
        ),
    ] = True,
    change_detector: Annotated[
        bool,
        typer.Option(
            "--change-detector/--no-change-detector",
            help="Also fit the dynamics change-point detector (velocity regression on loudness; needs MIDI "
            "velocities in the data) and save it beside the model.",
        ),
    ] = True,
    blend: Annotated[
        bool,
        typer.Option(
            "--blend/--no-blend",
            help="With madmom in the features and --beat-method madmom: mix the model's beat/downbeat activations "
            "with madmom's own (already in the features), the weight chosen on the validation split.",
        ),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the training report as JSON.")] = False,
) -> None:
    """Train a frame model (dynamics levels, change points, beats, downbeats) and save it to --out."""
    from dataclasses import replace

    from embedstore.errors import check_choice
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import add_extra_items, load_items, split_train_val
    from embedstore.frames.models import MODEL_KINDS, count_parameters
    from embedstore.frames.persist import default_model_dir, save_frame_model
    from embedstore.frames.train import TrainConfig, train_frame_model

    out = default_model_dir() if out is None else out
    check_choice("model", model, MODEL_KINDS)
    if dynamics_model is not None:
        check_choice("dynamics_model", dynamics_model, MODEL_KINDS)
        if dynamics_model == model:
            dynamics_model = None  # the model's own dynamics head
    cfg = TrainConfig(
        model=model,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        segment_s=segment,
        hop_s=hop,
        patience=patience,
        seed=seed,
        beat_method=beat_method,
        monitor=monitor,
        max_pos_weight=max_pos_weight,
    )
    parts = encoder.split("+")
    kw = {"num_models": madmom_models} if madmom_models != 8 and "madmom" in parts else {}
    if kw and len(parts) > 1:
        kw = {"madmom": kw}
    fz = FrameFeaturizer(encoder=encoder, layer=layer, encoder_kwargs=kw)
    err = err_console()
    if not json_out:
        err.print(f"computing {encoder} frame features of {data} ...")
    items = load_items(data, fz, where=where, limit=limit, cache=cache)
    train, val = split_train_val(items, val_fraction=cfg.val_fraction, seed=seed)
    if len(items) < 2:
        train, val = items, []
    n_orig = len(train)
    train = add_extra_items(train, extra, fz, held_out=val, cache=cache)
    log = None if json_out else (lambda s: err.print(s, markup=False))
    res = train_frame_model(train, config=cfg, val_items=val or None, log=log)
    report = {
        "out": str(out),
        "model": model,
        "encoder": encoder,
        "n_parameters": count_parameters(res.model),
        "n_recordings": len(items),
        "n_train": n_orig,
        "n_train_extra": len(train) - n_orig,
        "hours_train": round(sum(it.duration for it in train) / 3600, 3),
        "n_val": len(val),
        "best_epoch": res.best_epoch,
        "epochs_run": len(res.history),
        "thresholds": res.thresholds,
        "seconds": round(res.seconds, 1),
    }
    dyn = None
    dyn_cfg = None if dynamics_model is None else replace(cfg, model=dynamics_model, lr=None)
    if dyn_cfg is not None:
        if log is not None:
            log(f"training the dynamics model ({dynamics_model}) ...")
        dyn = train_frame_model(train, config=dyn_cfg, val_items=val or None, log=log)
        report["dynamics_model"] = {
            "kind": dynamics_model,
            "n_parameters": count_parameters(dyn.model),
            "best_epoch": dyn.best_epoch,
            "epochs_run": len(dyn.history),
            "seconds": round(dyn.seconds, 1),
        }
    blend_cfg = None
    if blend and beat_method == "madmom" and "madmom" in parts and val:
        from embedstore.errors import ConfigError
        from embedstore.frames.ensemble import fit_feature_blend

        try:
            fit = fit_feature_blend(res.model, val, fz, thresholds=res.thresholds)
        except ConfigError as e:  # e.g. no beat annotations: keep the model's own activations
            err.print(f"no blend: {e}", markup=False)
        else:
            report["blend"] = fit
            blend_cfg = {k: fit[k] for k in ("part", "columns", "compression", "weight")}
    save_frame_model(
        out,
        res.model,
        fz,
        thresholds=res.thresholds,
        beat_method=cfg.beat_method,
        blend=blend_cfg,
        dynamics_model=None if dyn is None else dyn.model,
        dynamics_training=None if dyn is None else {"config": dyn_cfg.as_dict(), "history": dyn.history},
        training={
            "config": cfg.as_dict(),
            "data": str(data),
            "history": res.history,
            "class_weights": res.class_weights,
            "pos_weights": res.pos_weights,
            "extra": [str(m) for m in extra or ()],
            **{
                k: report[k]
                for k in ("n_recordings", "n_train", "n_train_extra", "hours_train", "n_val", "best_epoch")
            },
        },
    )
    if change_detector:
        from embedstore.errors import ConfigError
        from embedstore.frames.changepoint_fit import train_change_detector

        try:
            det = train_change_detector(
                data, extra=extra or (), where=where, limit=limit, cache=cache, seed=seed
            )
        except ConfigError as e:
            err.print(f"no change-point detector: {e}", markup=False)
        else:
            det.save(out)
            report["change_detector"] = det.info | {"hysteresis": det.hysteresis}
    if json_out:
        print_json(report)
    else:
        console().print(
            f"saved [bold]{model}[/] ({report['n_parameters']:,} parameters, {encoder} features) to "
            f"{out}; best epoch {res.best_epoch}/{len(res.history)}, {report['seconds']} s"
            + (f"; blended with madmom's activations, weight {blend_cfg['weight']:g}" if blend_cfg else "")
            + (
                f"; dynamics from a {dynamics_model} model (best epoch {dyn.best_epoch})"
                if dyn is not None
                else ""
            )
        )


@handle_errors
def frames(
    audio: Annotated[Path, typer.Argument(help="Audio file to analyse.")],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="Folder written by `embedstore train-frames` (default: the default model, see docs/frames.md).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG of loudness, dynamics levels, beats and downbeats."),
    ] = None,
    curve_rate: Annotated[
        float, typer.Option(help="Points per second of the dynamics curve in the output.")
    ] = 10.0,
) -> None:
    """Dynamics curve (pp..ff, derived from MIDI velocities), change points, beats and downbeats of a take."""
    from embedstore.audio import load_audio
    from embedstore.frames.persist import load_frame_model
    from embedstore.frames.predict import analyze_samples

    saved = load_frame_model(model)
    a = load_audio(audio, sample_rate=saved.featurizer.sample_rate)
    res = analyze_samples(saved, a.samples, a.sample_rate, path=str(audio))
    if plot is not None:
        from embedstore.frames.plot import plot_analysis

        plot_analysis(res, a.samples, a.sample_rate, plot)
    d = res.as_dict(curve_rate=curve_rate)
    if plot is not None:
        d["plot"] = str(plot)
    if json_out:
        print_json(d)
        return
    c = console()
    c.print(
        f"[bold]{audio.name}[/]: {d['duration_s']:.1f} s, {len(d['beats'])} beats, "
        f"{len(d['downbeats'])} downbeats, {len(d['change_points'])} dynamics changes"
    )
    for seg in d["segments"]:
        c.print(f"  {seg['start']:7.2f}-{seg['end']:7.2f} s  {seg['level']}")
    if plot is not None:
        c.print(f"plot: {plot}")


def register(app: typer.Typer) -> None:
    app.command("train-frames")(train_frames)
    app.command("frames")(frames)
