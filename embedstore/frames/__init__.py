"""Frame-level probes: dynamics curve, dynamics change points, beats and downbeats of a take.

Modules (one per concern; heavy libraries are imported inside functions or only by the modules that need them):

- :mod:`~embedstore.frames.features` -- frame features from any encoder (``Encoder.frames``), on a common 50 Hz grid;
- :mod:`~embedstore.frames.targets` -- beat/downbeat targets from annotations, DERIVED dynamics levels from MIDI
  velocities, change points;
- :mod:`~embedstore.frames.models` -- the linear frame probe and the multi-scale CNN + MMoE multi-task network;
- :mod:`~embedstore.frames.train` -- joint loss, segments, grouped cross-validation;
- :mod:`~embedstore.frames.postprocess` -- peak picking, a DBN-style beat tracker, per-beat dynamics smoothing;
- :mod:`~embedstore.frames.evaluate` -- mir_eval beat F-measure, dynamics macro-F1, change-point F1, CIs;
- :mod:`~embedstore.frames.persist` -- ``config.json`` + ``model.safetensors``;
- :mod:`~embedstore.frames.predict` -- analyse a recording with a saved model;
- :mod:`~embedstore.frames.plot` -- loudness, dynamics levels, beats and downbeats over time (PNG).
"""

from embedstore.frames.targets import DYNAMICS_LEVELS, VELOCITY_EDGES

__all__ = ["DYNAMICS_LEVELS", "VELOCITY_EDGES"]
