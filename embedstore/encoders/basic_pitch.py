"""basic-pitch (Spotify, ONNX model inside the wheel) as an encoder: 88-key posteriorgrams and inner layers."""

from __future__ import annotations

import math

import numpy as np

from embedstore.encoders.base import Encoder, register_encoder
from embedstore.encoders.hf import check_windows
from embedstore.encoders.wheel import WheelEncoder, dist_version, package_dir, weights_sha256
from embedstore.errors import EncoderError

#: MIDI pitch of the first of the 88 piano keys used by every basic-pitch layer.
MIDI_A0 = 21


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


class BasicPitchEncoder(WheelEncoder):
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

        pkg = package_dir("basic_pitch", "basic-pitch")
        path = pkg / "saved_models" / "icassp_2022" / "nmp.onnx"
        if not path.is_file():
            raise EncoderError(
                f"basic-pitch is installed but {path} is missing", hint="reinstall basic-pitch"
            )
        self.batch_size = int(batch_size)
        self.model_id = f"basic-pitch=={dist_version('basic-pitch')}:icassp_2022/nmp.onnx"
        self.revision = weights_sha256(path)
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
