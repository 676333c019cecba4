"""Descript Audio Codec (``DacModel``) encoder: last encoder block, continuous latent ``z``, quantised ``z_q``.

Layers must share one width, so only the layers at the codec's latent width are exposed; the last encoder block
is one of them only when its width equals the latent's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.loading import from_pretrained_dir

if TYPE_CHECKING:
    import torch


class DacEncoder(TransformersEncoder):
    """Descript Audio Codec encoder: last encoder block, continuous latent ``z``, quantised ``z_q``.

    One frame per ``prod(downsampling_ratios)`` samples (512 at 44.1 kHz: 86.13 frames/s).
    """

    min_window_s = 0.05

    def _load(self, model_dir: Path) -> None:
        from transformers import DacModel

        model = from_pretrained_dir(DacModel, model_dir)
        self.model = model
        c = model.config
        self.sample_rate = int(c.sampling_rate)
        self._hop = int(np.prod(c.downsampling_ratios))
        self.frame_rate = self.sample_rate / self._hop
        self.dim = int(c.hidden_size)
        d_model = int(c.encoder_hidden_size * 2 ** len(c.downsampling_ratios))
        self._with_block = d_model == self.dim
        n_blocks = len(c.downsampling_ratios)
        self.layer_names = ([f"encoder.block{n_blocks}"] if self._with_block else []) + [
            "latent",
            "quantized",
        ]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        enc = self.model.encoder
        h = enc.conv1(self._to_model(x).unsqueeze(1))
        for block in enc.block:
            h = block(h)
        z = enc.conv2(enc.snake1(h))
        zq = self.model.quantizer(z)[0]
        layers = ([h] if self._with_block else []) + [z, zq]
        return torch.stack(layers).transpose(2, 3)  # [L, B, T, D]

    def _n_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self._hop)


dac_44khz = register_transformers_encoder(
    "dac-44khz", DacEncoder, "descript/dac_44khz", 44100, 1024, 3,
    "Descript Audio Codec 44.1 kHz encoder: last block, latent z, quantised z_q; 86 frames/s",
)  # fmt: skip
