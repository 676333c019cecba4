"""transkun (piano transcription, weights inside the wheel, ``torch.load(weights_only=True)``) as an encoder."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import sys
import types

import numpy as np

from embedstore.encoders.base import Encoder, register_encoder
from embedstore.encoders.hf import _split_even, check_windows
from embedstore.encoders.wheel import WheelEncoder, dist_version, package_dir, weights_sha256
from embedstore.errors import EncoderError


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int, **_):
    """HTK mel filterbank, identical to ``torchaudio.functional.melscale_fbanks`` defaults (norm=None, htk)."""
    import torch

    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_min = 2595.0 * math.log10(1.0 + f_min / 700.0)
    m_max = 2595.0 * math.log10(1.0 + f_max / 700.0)
    f_pts = 700.0 * (10 ** (torch.linspace(m_min, m_max, n_mels + 2) / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.min(down, up), min=0.0)


@contextlib.contextmanager
def _torchaudio_shim():
    """Transkun builds its mel matrix with torchaudio at construction time (the checkpoint then overwrites it).

    When torchaudio is not installed, provide just ``torchaudio.functional.melscale_fbanks`` for the duration
    of the construction.
    """
    if importlib.util.find_spec("torchaudio") is not None or "torchaudio" in sys.modules:
        yield
        return
    shim = types.ModuleType("torchaudio")
    setattr(shim, "functional", types.SimpleNamespace(melscale_fbanks=melscale_fbanks))  # noqa: B010
    sys.modules["torchaudio"] = shim
    try:
        yield
    finally:
        sys.modules.pop("torchaudio", None)


class TranskunEncoder(WheelEncoder):
    """Transkun 2.0 piano-transcription backbone activations; see the module docstring."""

    name = "transkun"
    sample_rate = 44100
    dim = 256
    hop = 1024
    frame_rate = 44100 / 1024
    layer_names = [f"block{i}" for i in range(1, 7)] + ["ctx"]
    min_window_s = 0.25
    max_input_s = 16.0
    description = (
        "Transkun 2.0 piano transcription (weights in the wheel): 6 transformer blocks + pitch context"
    )

    def __init__(self, *, batch_size: int = 2):
        import torch

        pkg = package_dir("transkun", "transkun")
        weights, conf_path = pkg / "pretrained" / "2.0.pt", pkg / "pretrained" / "2.0.conf"
        if not weights.is_file() or not conf_path.is_file():
            raise EncoderError(f"transkun is installed but {weights.name}/{conf_path.name} are missing")
        try:
            ckpt = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise EncoderError(
                f"transkun checkpoint {weights} does not load with weights_only=True: {e}"
            ) from e
        state = ckpt.get("best_state_dict", ckpt.get("state_dict"))
        if state is None:
            raise EncoderError(f"transkun checkpoint {weights} has no state_dict")
        conf = json.loads(conf_path.read_text())["Model"]
        with _torchaudio_shim():
            import transkun.ModelTransformer as tk

            config = tk.Config()
            config.__dict__.update(conf["config"])
            model = tk.TransKun(conf=config)
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys:
            raise EncoderError(f"transkun checkpoint is missing {len(result.missing_keys)} weights")
        model.backbone.useGradientCheckpoint = False
        self.model = model.eval().requires_grad_(False)
        self.batch_size = int(batch_size)
        self.model_id = f"transkun=={dist_version('transkun')}:pretrained/2.0.pt"
        self.revision = weights_sha256(weights)
        self._pitches = torch.tensor(model.targetMIDIPitch)
        if int(model.fs) != self.sample_rate or int(model.hopSize) != self.hop:
            raise EncoderError(f"unexpected transkun configuration (fs={model.fs}, hop={model.hopSize})")

    def _forward(self, x):
        """x: float32 tensor [B, n] -> [7, B, n_frames, 256]."""
        import torch
        from transkun.Util import makeFrame

        m = self.model
        captured: list = []
        hooks = [
            blk.register_forward_hook(lambda mod, i, o: captured.append(o))
            for blk in m.backbone.encoderLayers
        ]
        try:
            frames = makeFrame(x.unsqueeze(1), m.hopSize, m.windowSize)  # [B, 1, nT, win]
            mean = frames.mean(dim=[1, 2, 3], keepdim=True)
            std = frames.std(dim=[1, 2, 3], keepdim=True)
            frames = (frames - mean) / (std + 1e-8)  # Transkun's per-window gain normalisation
            feats = m.framewiseFeatureExtractor(frames).contiguous()
            feats = feats.view(x.shape[0], *feats.shape[-3:])
            ctx = m.backbone(feats, outputIndices=self._pitches)  # [B, 90, nT, 256]
        finally:
            for h in hooks:
                h.remove()
        n_t = ctx.shape[2]
        layers = []
        for h_all in captured:  # [B, 1 + T', n_tokens, 256]; row 0 is the time-aggregation track
            rows = h_all[:, 1:].mean(dim=2)  # [B, T', 256]
            layers.append(rows.repeat_interleave(8, dim=1)[:, :n_t])
        layers.append(ctx.mean(dim=1))
        return torch.stack(layers)

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Per-frame activations.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples), float32 at 44100 Hz

        Returns
        -------
        np.ndarray, shape (7, n_windows, ceil(n_samples / 1024), 256), float32
        """
        import torch

        w = check_windows(windows, sample_rate=self.sample_rate, min_window_s=self.min_window_s)
        pieces = _split_even(w.shape[1], int(self.max_input_s * self.sample_rate), align=self.hop)
        out = []
        with torch.inference_mode():
            for i in range(0, w.shape[0], self.batch_size):
                parts = []
                for a, b in pieces:
                    f = self._forward(torch.from_numpy(w[i : i + self.batch_size, a:b]))
                    parts.append(f[:, :, : math.ceil((b - a) / self.hop)])
                out.append(torch.cat(parts, dim=2).numpy())
        return np.ascontiguousarray(np.concatenate(out, axis=1), dtype=np.float32)

    def params(self) -> dict:
        return {"block_pool": "mean-tokens", "ctx_pool": "mean-pitches", "max_input_s": self.max_input_s}


@register_encoder(
    "transkun",
    kind="wheel",
    description=TranskunEncoder.description,
    sample_rate=44100,
    dim=256,
    n_layers=7,
    model_id="transkun (pretrained/2.0.pt)",
)
def transkun(*, batch_size: int = 2) -> Encoder:
    """Transkun 2.0 backbone activations (7 layers x 256, 43.07 frames/s at 44100 Hz); see :mod:`.wheel`."""
    return TranskunEncoder(batch_size=batch_size)
