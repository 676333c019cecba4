"""EnCodec (``EncodecModel``) encoder: the continuous latent and its RVQ reconstruction (all codebooks)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.loading import from_pretrained_dir
from embedstore.errors import EncoderError

if TYPE_CHECKING:
    import torch


class EncodecEncoder(TransformersEncoder):
    """EnCodec: encoder output (continuous latent) and its RVQ reconstruction at the highest bandwidth.

    Mono models only; one frame per ``prod(upsampling_ratios)`` samples (320 at 24 kHz: 75 frames/s).
    """

    min_window_s = 0.05

    def _load(self, model_dir: Path) -> None:
        from transformers import EncodecModel

        model = from_pretrained_dir(EncodecModel, model_dir)
        self.model = model
        c = model.config
        if int(c.audio_channels) != 1:
            raise EncoderError(
                f"{model_dir}: only mono EnCodec models are supported (audio_channels={c.audio_channels})"
            )
        self.sample_rate = int(c.sampling_rate)
        self._hop = int(np.prod(c.upsampling_ratios))
        self.frame_rate = self.sample_rate / self._hop
        self.dim = int(c.hidden_size)
        self.bandwidth = float(max(c.target_bandwidths))
        self.layer_names = ["latent", "quantized"]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        x = self._to_model(x).unsqueeze(1)
        if self.model.config.normalize:
            scale = x.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8
            x = x / scale
        z = self.model.encoder(x)
        codes = self.model.quantizer.encode(z, self.bandwidth)
        zq = self.model.quantizer.decode(codes).to(z.dtype)
        return torch.stack([z, zq]).transpose(2, 3)

    def _n_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self._hop)

    def params(self) -> dict[str, Any]:
        """Settings that change the output: dtype and the RVQ bandwidth (kbps)."""
        return {**self._output_params(), "bandwidth_kbps": self.bandwidth}


encodec_24khz = register_transformers_encoder(
    "encodec-24khz", EncodecEncoder, "facebook/encodec_24khz", 24000, 128, 2,
    "EnCodec 24 kHz encoder: latent and RVQ-quantised latent (24 kbps); 75 frames/s",
)  # fmt: skip
