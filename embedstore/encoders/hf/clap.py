"""CLAP's HTSAT audio tower (``ClapAudioModel``, without the text tower).

Layers must share one width, so the layers at the tower's output width are exposed: the output of the last
stage but one (after patch merging), each block of the last stage, and the final norm. The narrower early
stages are not. Inputs longer than the model's 10 s are processed in equal consecutive chunks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.loading import from_pretrained_dir, from_state_dict, read_json, read_state_dict
from embedstore.errors import EncoderError

if TYPE_CHECKING:
    import torch


class ClapEncoder(TransformersEncoder):
    """CLAP's HTSAT audio tower (without the text tower).

    Tokens of the last stages sit on a folded (frequency x time) grid; they are unfolded back to time
    (as HTSAT does for its frame-wise output) and averaged over frequency. Each 10 s chunk gives
    ``spec_size * freq_ratio / patch / 2**(stages-1)`` time tokens (32 for the LAION models).
    """

    max_input_s = 10.0
    min_window_s = 0.1

    def _load(self, model_dir: Path) -> None:
        from transformers import ClapAudioConfig, ClapAudioModel, ClapFeatureExtractor

        cfg = read_json(model_dir / "config.json")
        if cfg.get("model_type") == "clap":  # full CLAP checkpoint: build and load only the audio tower
            config = ClapAudioConfig.from_dict(cfg.get("audio_config", {}))
            sd = read_state_dict(model_dir)
            model = from_state_dict(ClapAudioModel, config, sd, str(model_dir), ("audio_model.",))
        else:
            model = from_pretrained_dir(ClapAudioModel, model_dir)
            config = model.config
        self.model = model
        if config.enable_fusion:
            raise EncoderError(
                f"{model_dir}: fused CLAP models are not supported (use the unfused checkpoint)"
            )
        if (model_dir / "preprocessor_config.json").is_file():
            fe = ClapFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
        else:
            fe = ClapFeatureExtractor(feature_size=config.num_mel_bins)
        fe.truncation = "rand_trunc"  # never triggered: chunks are <= max_length_s
        self.fe = fe
        self.sample_rate = int(fe.sampling_rate)
        self.max_input_s = float(fe.max_length_s)
        enc = model.audio_encoder
        n_stages = len(config.depths)
        self._freq_ratio = int(enc.freq_ratio)
        stride_t = enc.patch_stride[1] if isinstance(enc.patch_stride, (list, tuple)) else enc.patch_stride
        # the (time x mel) spectrogram is folded into freq_ratio groups stacked along frequency
        self._n_time = self._freq_ratio * (int(enc.spec_size) // int(stride_t) // 2 ** (n_stages - 1))
        self._n_mel_frames = int(round(fe.max_length_s * fe.sampling_rate)) // fe.hop_length + 1
        self.frame_rate = self._n_time / (self._n_mel_frames * fe.hop_length / fe.sampling_rate)
        self.dim = int(enc.num_features)
        self.layer_names = (
            [f"stage{n_stages - 1}"]
            + [f"stage{n_stages}.block{j + 1}" for j in range(config.depths[-1])]
            + ["norm"]
        )

    def _unfold(self, tokens: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """[B, H*W, C] tokens on the folded grid -> [B, T, C] averaged over frequency."""
        b, _, c = tokens.shape
        h, w = grid_hw
        x = tokens.reshape(b, h, w, c)  # rows: freq_ratio groups of frequency, cols: time within group
        x = x.reshape(b, self._freq_ratio, h // self._freq_ratio, w, c)  # [B, group, f, t, C]
        x = x.mean(dim=2)  # average frequency inside the group -> [B, group, t, C]
        return x.reshape(b, self._freq_ratio * w, c)  # time = group * w + t

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        feats = self.fe([a for a in x.numpy()], sampling_rate=self.sample_rate, return_tensors="pt")
        enc = self.model.audio_encoder
        captured: list[Any] = []
        hooks = [
            blk.register_forward_hook(lambda m, i, o: captured.append(o[0] if isinstance(o, tuple) else o))
            for blk in enc.layers[-1].blocks
        ]
        try:
            out = self.model(
                input_features=self._to_model(feats["input_features"]),
                output_hidden_states=True,
            )
        finally:
            for hk in hooks:
                hk.remove()
        hs = out.hidden_states  # reshaped: [B, C, H, W]; [-2] = stage n-1 output (after merging)
        stage_prev = hs[-2]
        b, c, h, w = stage_prev.shape
        grid = (h, w)
        layers = [stage_prev.flatten(2).transpose(1, 2)] + list(captured)
        layers.append(enc.norm(captured[-1]))
        return torch.stack([self._unfold(t, grid) for t in layers])

    def _n_frames(self, n_samples: int) -> int:
        n_mel = n_samples // self.fe.hop_length + 1
        return min(self._n_time, max(1, math.ceil(n_mel * self._n_time / self._n_mel_frames)))


clap_htsat_unfused = register_transformers_encoder(
    "clap-htsat-unfused", ClapEncoder, "laion/clap-htsat-unfused", 48000, 768, 4,
    "LAION CLAP HTSAT audio tower (unfused): stage 3, stage-4 blocks, final norm; ~3.2 frames/s",
)  # fmt: skip
