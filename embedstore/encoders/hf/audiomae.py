"""AudioMAE (ViT-B/16 on a 1024-frame x 128-bin Kaldi fbank) as a ``transformers`` ``ViTModel``.

The timm port (``gaunernst/vit_base_patch16_1024_128.audiomae_as2m``) is converted on the fly when loaded from
the hub cache or a timm-format directory. To store a converted copy (``config.json`` + ``model.safetensors``)::

    python -c "from embedstore.encoders.hf import convert_timm_audiomae; \\
               convert_timm_audiomae('path/to/timm_dir_or_weights', 'audiomae-vit')"
    embedstore ... --encoder hf:audiomae-vit
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.fbank import AUDIOSET_MEAN, AUDIOSET_STD, audiomae_features, fbank_frames
from embedstore.encoders.hf.loading import (
    from_pretrained_dir,
    from_state_dict,
    read_json,
    read_state_dict,
    read_weights_file,
)
from embedstore.errors import EncoderError

if TYPE_CHECKING:
    import torch


def is_timm_dir(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a timm checkpoint (a ``config.json`` without ``model_type``)."""
    cfg = read_json(Path(model_dir) / "config.json")
    return "model_type" not in cfg and ("architecture" in cfg or "pretrained_cfg" in cfg)


def audiomae_vit_config(**overrides: Any) -> Any:
    """``ViTConfig`` of AudioMAE ViT-B/16 on 1024 x 128 fbank (1 channel, timm LayerNorm eps 1e-6).

    Parameters
    ----------
    **overrides
        ``ViTConfig`` fields to change (e.g. ``hidden_size`` for a tiny test model).

    Returns
    -------
    transformers.ViTConfig
    """
    from transformers import ViTConfig

    kw: dict[str, Any] = dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        layer_norm_eps=1e-6,
        image_size=[1024, 128],
        patch_size=16,
        num_channels=1,
        qkv_bias=True,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    kw.update(overrides)
    return ViTConfig(**kw)


def convert_timm_audiomae_state_dict(sd: dict[str, Any]) -> dict[str, Any]:
    """Rename a timm ViT (AudioMAE port) state dict to transformers ``ViTModel`` checkpoint names.

    The names are those of ViT checkpoints on the hub (``encoder.layer.N.attention.attention.query``...), which
    every transformers version loads (5.x maps them onto its own module names).

    ``blocks.i.attn.qkv`` is split into query/key/value; ``norm``/``fc_norm`` become the final ``layernorm``
    (it only touches ``last_hidden_state``, never the hidden states used as layers); classifier ``head.*`` is
    dropped. Raises :class:`EncoderError` on any unknown key.
    """
    out: dict[str, Any] = {}
    top = {
        "cls_token": "embeddings.cls_token",
        "pos_embed": "embeddings.position_embeddings",
        "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
        "norm.weight": "layernorm.weight",
        "norm.bias": "layernorm.bias",
        "fc_norm.weight": "layernorm.weight",
        "fc_norm.bias": "layernorm.bias",
    }
    block = {
        "norm1": "layernorm_before",
        "norm2": "layernorm_after",
        "attn.proj": "attention.output.dense",
        "mlp.fc1": "intermediate.dense",
        "mlp.fc2": "output.dense",
    }
    pat = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
    for k, v in sd.items():
        if k.startswith("head.") or k.startswith("head_drop"):
            continue
        if k in top:
            out[top[k]] = v
            continue
        m = pat.match(k)
        if not m:
            raise EncoderError(f"unexpected key in the timm AudioMAE checkpoint: {k!r}")
        i, name, kind = m.groups()
        pre = f"encoder.layer.{i}."
        if name == "attn.qkv":
            q, kk, vv = v.chunk(3, dim=0)
            for part, t in (("query", q), ("key", kk), ("value", vv)):
                out[f"{pre}attention.attention.{part}.{kind}"] = t.contiguous()
        elif name in block:
            out[f"{pre}{block[name]}.{kind}"] = v
        else:
            raise EncoderError(f"unexpected key in the timm AudioMAE checkpoint: {k!r}")
    return out


def _timm_audiomae_model(src: Path) -> Any:
    """Build a ``ViTModel`` from a timm AudioMAE directory or weights file."""
    from transformers import ViTModel

    src = Path(src)
    sd = read_state_dict(src) if src.is_dir() else read_weights_file(src)
    hf = convert_timm_audiomae_state_dict(sd)
    n_layers = 1 + max(int(k.split(".")[2]) for k in hf if k.startswith("encoder.layer."))
    hidden = int(hf["embeddings.cls_token"].shape[-1])
    inter = int(hf["encoder.layer.0.intermediate.dense.weight"].shape[0])
    model_args = read_json(src / "config.json").get("model_args", {}) if src.is_dir() else {}
    heads = int(model_args.get("num_heads") or max(1, hidden // 64))  # timm ViTs use 64-d heads
    config = audiomae_vit_config(
        hidden_size=hidden, num_hidden_layers=n_layers, num_attention_heads=heads, intermediate_size=inter
    )
    return from_state_dict(ViTModel, config, hf, str(src), add_pooling_layer=False)


def convert_timm_audiomae(src: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """One-time conversion of the timm AudioMAE port to a transformers ``ViTModel`` directory.

    Parameters
    ----------
    src : path
        timm model directory (``config.json`` + weights) or a weights file (``.safetensors`` or ``.bin``).
    out_dir : path
        Written with ``config.json`` + ``model.safetensors``; load it with ``hf:<out_dir>`` or
        ``get_encoder("audiomae", model_path=out_dir)``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    model = _timm_audiomae_model(Path(src))
    out = Path(out_dir)
    model.save_pretrained(str(out), safe_serialization=True)
    return out


class AudioMaeEncoder(TransformersEncoder):
    """AudioMAE ViT-B/16 on a 1024-frame x 128-bin Kaldi fbank (10.24 s at 16 kHz), as a ``ViTModel``.

    Patch tokens of each time patch (16 fbank frames = 160 ms) are averaged over the 8 frequency patches.
    """

    min_window_s = 0.1
    _compilable = True
    #: int8 is 2.5x fp32 and 1.6x bf16 here, cosine to fp32 >= 0.9994 (``bench/results/encoder_modes.md``).
    _auto_mode = "int8"

    def _load(self, model_dir: Path) -> None:
        from transformers import ViTModel

        if is_timm_dir(model_dir):
            model = _timm_audiomae_model(model_dir)
        else:
            model = from_pretrained_dir(ViTModel, model_dir, ignore=("pooler.",), add_pooling_layer=False)
        c = model.config
        size = c.image_size if isinstance(c.image_size, (list, tuple)) else (c.image_size, c.image_size)
        if int(c.num_channels) != 1:
            raise EncoderError(
                f"{model_dir}: a ViT with {c.num_channels} input channels is not an AudioMAE model "
                "(expected num_channels=1 on a (time, mel) fbank)"
            )
        self.model = model
        self._n_fb, self._n_mels = int(size[0]), int(size[1])
        p = c.patch_size if isinstance(c.patch_size, int) else c.patch_size[0]
        self._p = int(p)
        self._t, self._f = self._n_fb // self._p, self._n_mels // self._p
        self.sample_rate = 16000
        self._align = 160 * self._p
        self.frame_rate = self.sample_rate / self._align
        self.max_input_s = self._t * self._align / self.sample_rate  # 10.24 s
        self.dim = int(c.hidden_size)
        self.layer_names = [f"L{i}" for i in range(c.num_hidden_layers + 1)]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        feats = np.stack([audiomae_features(a, n_frames=self._n_fb, n_mels=self._n_mels) for a in x.numpy()])
        pix = torch.from_numpy(feats).unsqueeze(1)  # [B, 1, time, mel]
        out = self.model(self._to_model(pix), output_hidden_states=True)
        hs = torch.stack(out.hidden_states)[:, :, 1:]  # drop CLS
        n_l, b, _, d = hs.shape
        return hs.reshape(n_l, b, self._t, self._f, d).mean(dim=3)

    def _n_frames(self, n_samples: int) -> int:
        return min(self._t, max(1, math.ceil(fbank_frames(n_samples) / self._p)))

    def params(self) -> dict[str, Any]:
        """Settings that change the output: dtype, fbank and its normalisation."""
        return {**self._output_params(), "fbank": "kaldi-128", "norm": [AUDIOSET_MEAN, AUDIOSET_STD]}


audiomae = register_transformers_encoder(
    "audiomae", AudioMaeEncoder, "gaunernst/vit_base_patch16_1024_128.audiomae_as2m", 16000, 768, 13,
    "AudioMAE ViT-B/16 (AudioSet-2M) on 128-bin Kaldi fbank as a ViTModel, 13 hidden states, 6.25 frames/s",
)  # fmt: skip
