"""Whisper's audio encoder (``WhisperEncoder``; the decoder weights are not loaded)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.loading import from_state_dict, read_state_dict

if TYPE_CHECKING:
    import torch


class WhisperEncoderWrapper(TransformersEncoder):
    """Whisper's audio encoder (decoder weights are not loaded). Inputs are padded to 30 s, as Whisper expects;
    only the frames covering the real input are kept (50 per second); longer inputs are cut into equal chunks."""

    min_window_s = 0.1
    _compilable = True

    def _load(self, model_dir: Path) -> None:
        from transformers import WhisperConfig, WhisperFeatureExtractor
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        config = WhisperConfig.from_pretrained(str(model_dir), local_files_only=True)
        sd = read_state_dict(model_dir)
        self.model = from_state_dict(
            WhisperEncoder, config, sd, str(model_dir), ("model.encoder.", "encoder.")
        )
        if (model_dir / "preprocessor_config.json").is_file():
            self.fe = WhisperFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
        else:
            self.fe = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
        self.sample_rate = int(self.fe.sampling_rate)
        self._hop = int(self.fe.hop_length) * 2  # conv2 has stride 2
        self.frame_rate = self.sample_rate / self._hop
        self._align = self._hop
        self._max_frames = int(config.max_source_positions)
        self.max_input_s = self._max_frames * self._hop / self.sample_rate
        self.dim = int(config.d_model)
        self.layer_names = [f"L{i}" for i in range(config.encoder_layers + 1)]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        feats = self.fe([a for a in x.numpy()], sampling_rate=self.sample_rate, return_tensors="pt")
        out = self.model(self._to_model(feats["input_features"]), output_hidden_states=True)
        return torch.stack(out.hidden_states)

    def _n_frames(self, n_samples: int) -> int:
        return min(self._max_frames, max(1, math.ceil(n_samples / self._hop)))


whisper_base = register_transformers_encoder(
    "whisper-base", WhisperEncoderWrapper, "openai/whisper-base", 16000, 512, 7,
    "Whisper base encoder (log-mel, padded to 30 s, real frames kept), 7 hidden states, 50 frames/s",
)  # fmt: skip
