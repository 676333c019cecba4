"""Audio Spectrogram Transformer (``ASTModel``): per-time-patch tokens averaged over frequency patches."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.fbank import fbank_frames
from embedstore.encoders.hf.loading import from_pretrained_dir

if TYPE_CHECKING:
    import torch


class AstEncoder(TransformersEncoder):
    """Audio Spectrogram Transformer: tokens of each time patch averaged over frequency patches (CLS dropped).

    One frame per ``time_stride`` fbank frames (10 per second for the AudioSet model); inputs longer than what
    the patches cover (10.1 s) are processed in equal consecutive chunks.
    """

    min_window_s = 0.1
    _compilable = True

    def _load(self, model_dir: Path) -> None:
        from transformers import ASTFeatureExtractor, ASTModel

        model = from_pretrained_dir(ASTModel, model_dir)
        self.model = model
        c = model.config
        with warnings.catch_warnings():  # "mel filter has all zero values": inherent to 128 Kaldi bins
            warnings.simplefilter("ignore", UserWarning)
            if (model_dir / "preprocessor_config.json").is_file():
                self.fe = ASTFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
            else:
                self.fe = ASTFeatureExtractor(num_mel_bins=c.num_mel_bins, max_length=c.max_length)
        self.sample_rate = int(self.fe.sampling_rate)
        self._f = (c.num_mel_bins - c.patch_size) // c.frequency_stride + 1
        self._t = (c.max_length - c.patch_size) // c.time_stride + 1
        self._tstride = int(c.time_stride)
        self._align = 160 * self._tstride
        self.frame_rate = self.sample_rate / self._align
        self.max_input_s = self._t * self._align / self.sample_rate  # 10.1 s: exactly what the patches cover
        self.dim = int(c.hidden_size)
        self.layer_names = [f"L{i}" for i in range(c.num_hidden_layers + 1)]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        feats = self.fe([a for a in x.numpy()], sampling_rate=self.sample_rate, return_tensors="pt")
        out = self.model(self._to_model(feats["input_values"]), output_hidden_states=True)
        hs = torch.stack(out.hidden_states)[:, :, 2:]  # drop CLS + distillation tokens
        n_l, b, _, d = hs.shape
        return hs.reshape(n_l, b, self._f, self._t, d).mean(dim=2)

    def _n_frames(self, n_samples: int) -> int:
        return min(self._t, max(1, math.ceil(fbank_frames(n_samples) / self._tstride)))


ast = register_transformers_encoder(
    "ast", AstEncoder, "MIT/ast-finetuned-audioset-10-10-0.4593", 16000, 768, 13,
    "Audio Spectrogram Transformer (AudioSet), 13 hidden states, 10 frames/s",
)  # fmt: skip
