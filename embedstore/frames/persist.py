"""Saving and loading frame models: ``config.json`` + ``model.safetensors`` (no pickle).

``config.json`` holds everything needed to rebuild the model and to check that it is used on the same features:

- ``format`` / ``format_version``; ``model``: ``kind``, ``in_dim``, ``hparams``, ``n_parameters``;
- ``features``: the :class:`~embedstore.frames.features.FrameFeaturizer` config (encoder, layer, frame rate,
  compression) and ``encoder_provenance`` (compared on load: a different encoder version, parameters or weights
  is a :class:`~embedstore.errors.ProvenanceError`);
- ``tasks``, ``dynamics`` (level names, velocity edges and the DERIVED note), ``postprocess`` (thresholds, beat
  method, ``blend``, ``dynamics_model``: the sub-folder of a second model whose dynamics probabilities replace this
  one's, saved by ``train-frames --dynamics-model``); ``training`` (settings, history, data description, metrics
  when known); ``embedstore_version``.

``model.safetensors`` holds the state dict, including the input standardisation buffers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from embedstore.config import cache_dir
from embedstore.errors import ConfigError, ProvenanceError
from embedstore.frames.changepoints import load_change_detector
from embedstore.frames.features import FrameFeaturizer, check_compatible
from embedstore.frames.targets import DYNAMICS_LEVELS, HYSTERESIS, MEDIAN_BEATS, VELOCITY_EDGES
from embedstore.utils import dumps

FORMAT = "embedstore-frame-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Sub-folder of a model folder holding the model used for the dynamics probabilities (``--dynamics-model``).
DYNAMICS_DIR = "dynamics"


@dataclass
class SavedFrameModel:
    """A loaded frame model: the torch module (eval mode), its featurizer and its config."""

    model: object
    featurizer: object
    config: dict = field(default_factory=dict)
    path: str | None = None
    #: The dynamics change-point detector saved beside the model (:mod:`embedstore.frames.changepoints`), if any.
    change_detector: object | None = None
    #: The model whose dynamics probabilities are used instead of ``model``'s (``postprocess.dynamics_model``).
    dynamics_model: object | None = None

    @property
    def frame_rate(self) -> float:
        return float(self.config["features"]["frame_rate"])

    @property
    def thresholds(self) -> dict:
        return dict(self.config.get("postprocess", {}).get("thresholds", {}))

    @property
    def beat_method(self) -> str:
        return self.config.get("postprocess", {}).get("beat_method", "dbn")

    @property
    def blend(self) -> dict | None:
        """How beat / downbeat activations are blended with a tracker's in the features
        (:func:`embedstore.frames.ensemble.blend_config`), or None."""
        return self.config.get("postprocess", {}).get("blend")


def save_frame_model(
    out_dir,
    model,
    featurizer,
    *,
    thresholds: dict | None = None,
    beat_method: str = "dbn",
    training: dict | None = None,
    blend: dict | None = None,
    dynamics_model=None,
    dynamics_training: dict | None = None,
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` to ``out_dir`` (created). Returns ``out_dir``.

    ``blend`` (:func:`embedstore.frames.ensemble.blend_config`): mix the beat / downbeat activations with those of a
    part of the features before decoding (``postprocess.blend``). ``dynamics_model`` (same features): saved in
    ``out_dir/dynamics`` and used for the dynamics probabilities (``postprocess.dynamics_model``); without it a
    ``dynamics`` sub-model left there by an earlier training is removed."""
    from safetensors.torch import save_file

    from embedstore import __version__
    from embedstore.frames.models import TASKS, count_parameters

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embedstore_version": __version__,
        "model": {
            "kind": model.kind,
            "in_dim": model.in_dim,
            "hparams": model.hparams(),
            "n_parameters": count_parameters(model),
        },
        "features": featurizer.config(),
        "encoder_provenance": featurizer.provenance(),
        "tasks": dict(TASKS),
        "dynamics": {
            "levels": list(DYNAMICS_LEVELS),
            "velocity_edges": list(VELOCITY_EDGES),
            "median_beats": MEDIAN_BEATS,
            "hysteresis": HYSTERESIS,
            "note": "DERIVED: levels are mean MIDI note velocities per beat mapped to pp..ff "
            "(see embedstore.frames.targets), not score markings",
        },
        "postprocess": {
            "thresholds": dict(thresholds or {"beat": 0.5, "downbeat": 0.5, "change": 0.5}),
            "beat_method": beat_method,
            **({"blend": dict(blend)} if blend else {}),
            **({"dynamics_model": DYNAMICS_DIR} if dynamics_model is not None else {}),
        },
        "training": training or {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = out / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata={"format": FORMAT})
    tmp.replace(out / WEIGHTS_NAME)

    sub = out / DYNAMICS_DIR
    if dynamics_model is not None:
        save_frame_model(sub, dynamics_model, featurizer, beat_method=beat_method, training=dynamics_training)
    elif (sub / CONFIG_NAME).is_file() and _is_frame_model_config(sub / CONFIG_NAME):
        import shutil

        shutil.rmtree(sub)  # stale: never combine a new model with an old sub-model
    (out / CONFIG_NAME).write_text(dumps(cfg) + "\n")
    return out


def _is_frame_model_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def default_model_dir() -> Path:
    """Where ``embedstore train-frames`` writes and ``embedstore frames`` reads the model when no folder is given:
    ``$EMBEDSTORE_FRAMES_MODEL`` if set, else ``embedstore.config.cache_dir()/models/frames-default`` (the
    recipe of the best measured model is in docs/frames.md)."""
    import os

    env = os.environ.get("EMBEDSTORE_FRAMES_MODEL")
    return Path(env) if env else cache_dir() / "models" / "frames-default"


def load_frame_model(path=None, *, check_provenance: bool = True) -> SavedFrameModel:
    """Load a model saved by :func:`save_frame_model` (``path=None``: :func:`default_model_dir`).

    Raises
    ------
    ConfigError
        Missing or malformed files.
    ProvenanceError
        The encoder now builds features different from those the model was trained on.
    """
    from safetensors.torch import load_file

    from embedstore.frames.models import build_model

    p = default_model_dir() if path is None else Path(path)
    cp, wp = p / CONFIG_NAME, p / WEIGHTS_NAME
    if not cp.is_file() or not wp.is_file():
        what = "the default model" if path is None else "--out <dir>"
        raise ConfigError(
            f"no frame model at {p} (need {CONFIG_NAME} and {WEIGHTS_NAME})",
            hint=f"train {what} with `embedstore train-frames --data <manifest>` (recipe: docs/frames.md)",
        )
    try:
        cfg = json.loads(cp.read_text())
    except ValueError as e:
        raise ConfigError(f"malformed {cp}: {e}") from e
    if cfg.get("format") != FORMAT:
        raise ConfigError(f"{cp} is not an embedstore frame model (format={cfg.get('format')!r})")
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise ConfigError(
            f"{cp} has format_version {cfg['format_version']}, newer than this embedstore ({FORMAT_VERSION})",
            hint="upgrade embedstore",
        )
    fz = FrameFeaturizer.from_config(cfg["features"])
    if check_provenance:
        diff = check_compatible(cfg.get("encoder_provenance", {}), fz.provenance())
        if diff:
            raise ProvenanceError(
                f"the model at {p} was trained on {fz.encoder!r} features that differ from the "
                f"current encoder in: {', '.join(diff)}",
                hint="retrain the model with this version of the encoder",
            )
    m = cfg["model"]
    model = build_model(m["kind"], int(m["in_dim"]), **m.get("hparams", {}))
    state = load_file(str(wp))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"weights in {wp} do not match the config: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}"
        )
    model.eval()
    dyn = None
    sub = cfg.get("postprocess", {}).get("dynamics_model")
    if sub:
        if Path(sub).is_absolute() or ".." in Path(sub).parts:
            raise ConfigError(f"{cp}: postprocess.dynamics_model must be a sub-folder, got {sub!r}")
        if not (p / sub / CONFIG_NAME).is_file():
            raise ConfigError(
                f"{cp} names the dynamics model {sub!r}, which is missing from {p}",
                hint="retrain with `embedstore train-frames --dynamics-model ...`",
            )
        d = load_frame_model(p / sub, check_provenance=check_provenance)
        if d.config["features"] != cfg["features"]:
            raise ConfigError(f"the dynamics model in {p / sub} was trained on other features than {p}")
        dyn = d.model
    return SavedFrameModel(
        model, fz, cfg, str(p), change_detector=load_change_detector(p), dynamics_model=dyn
    )
