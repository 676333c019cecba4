"""``--encoder hf:/path/to/model``: the encoder for a local ``from_pretrained`` directory, by its ``model_type``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from embedstore.encoders.base import Encoder
from embedstore.encoders.hf.audiomae import AudioMaeEncoder, is_timm_dir
from embedstore.encoders.hf.clap import ClapEncoder
from embedstore.encoders.hf.dac import DacEncoder
from embedstore.encoders.hf.encodec import EncodecEncoder
from embedstore.encoders.hf.encoder import TransformersEncoder
from embedstore.encoders.hf.loading import DTYPES, DType, read_json, resolve_model_dir
from embedstore.encoders.hf.mert import HUBERT_TYPES, W2V_TYPES, MertEncoder
from embedstore.encoders.hf.modes import Mode
from embedstore.encoders.hf.spectrogram_transformer import AstEncoder
from embedstore.encoders.hf.whisper import WhisperEncoderWrapper
from embedstore.errors import ConfigError, EncoderError, check_choice

#: ``config.json`` ``model_type`` -> encoder class.
DISPATCH: dict[str, type[TransformersEncoder]] = {
    **{t: MertEncoder for t in HUBERT_TYPES + W2V_TYPES},
    "dac": DacEncoder,
    "encodec": EncodecEncoder,
    "clap": ClapEncoder,
    "clap_audio_model": ClapEncoder,
    "audio-spectrogram-transformer": AstEncoder,
    "whisper": WhisperEncoderWrapper,
    "vit": AudioMaeEncoder,
}


def load_hf_encoder(
    path: str | os.PathLike[str],
    *,
    dtype: DType = "auto",
    device: str = "cpu",
    batch_size: int = 8,
    mode: Mode = "auto",
    **kw: Any,
) -> Encoder:
    """Encoder for a local ``from_pretrained`` directory (``--encoder hf:/path/to/model``).

    Dispatches on ``config.json``'s ``model_type``: hubert / wav2vec2 / mert_model -> MERT-style, dac, encodec,
    clap / clap_audio_model, audio-spectrogram-transformer, whisper, vit (and timm AudioMAE dirs) -> AudioMAE.

    Parameters
    ----------
    path : path
        The model directory (holds ``config.json``).
    dtype : {"auto", "float32", "bfloat16"}
    device : str
        torch device.
    batch_size : int
        Windows per forward pass.
    mode : {"auto", "eager", "compile", "int8"}
        How the model runs (:mod:`embedstore.encoders.hf.modes`); ``"auto"``: the family's measured choice.
    **kw
        ``model_path`` and ``revision`` are accepted (and ignored) so that stored ``load_kwargs`` rebuild it.

    Returns
    -------
    Encoder
        Named ``"hf:<path>"``.

    Raises
    ------
    ConfigError
        Unknown keyword options or dtype.
    EncoderError
        Not a model directory, or an unsupported ``model_type``.
    """
    check_choice("dtype", dtype, DTYPES)
    unknown = set(kw) - {"model_path", "revision"}
    if unknown:
        raise ConfigError(f"unexpected options for hf: encoders: {', '.join(sorted(unknown))}")
    p = Path(path).expanduser()
    cfg_file = p / "config.json"
    if not cfg_file.is_file():
        raise EncoderError(
            f"{p} is not a model directory (no config.json)",
            hint="pass a directory written by save_pretrained / huggingface-cli download",
        )
    cfg = read_json(cfg_file)
    mtype = cfg.get("model_type")
    cls: type[TransformersEncoder]
    if mtype is None and is_timm_dir(p):
        cls = AudioMaeEncoder
    elif mtype in DISPATCH:
        cls = DISPATCH[mtype]
    else:
        valid = ", ".join(sorted(DISPATCH))
        raise EncoderError(
            f"{p}: model_type {mtype!r} is not supported by hf: encoders",
            hint=f"supported model_types: {valid} (and timm AudioMAE directories)",
        )
    _, commit = resolve_model_dir(str(p), model_path=p)
    return cls(
        p,
        name=f"hf:{p}",
        model_id=str(p),
        commit=commit,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        mode=mode,
        description=f"{cls.__name__} loaded from {p}",
    )
