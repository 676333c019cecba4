"""How a ``transformers`` encoder runs on its device: eager, ``torch.compile``, or dynamic int8.

``mode`` is a speed choice with a faithfulness cost that was measured (``bench/bench_encoder_modes.py``,
``bench/results/encoder_modes.md``):

- ``"eager"``: the model as loaded (float32 or bfloat16, see ``dtype``).
- ``"compile"``: ``torch.compile`` (inductor) of the model's forward; same numbers up to float rounding, a
  one-off compile on the first batch of each input shape. Only for families whose forward is one call of the
  model (``TransformersEncoder._compilable``).
- ``"int8"``: dynamic int8 quantisation of every ``nn.Linear`` (weights int8, activations quantised per batch);
  CPU and float32 only. It changes the vectors a little, so it is part of the provenance.
- ``"auto"`` (the default): each family's measured fastest faithful mode (:func:`auto_mode`), on the CPU and
  when ``dtype`` is also ``"auto"``; eager otherwise. Measured here (AMD EPYC with AVX512-BF16, 2 cores):
  AudioMAE -> int8 (2.5x fp32, 1.6x bf16; cosine to fp32 >= 0.9994, no retrieval neighbour changed); MERT ->
  eager, where ``dtype="auto"``'s bfloat16 is the fastest (2.6x fp32; int8 2.0x, compile 2.1x after a
  167 s compile). Families not measured (AST, Whisper, CLAP, DAC, EnCodec) stay eager.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from embedstore.errors import ConfigError, check_choice

MODES = ("auto", "eager", "compile", "int8")
Mode = Literal["auto", "eager", "compile", "int8"]


def auto_mode(family_auto: str, *, dtype: str, device: str) -> str:
    """What ``mode="auto"`` means for a family: its measured choice, where that choice applies.

    The family's choice (``TransformersEncoder._auto_mode``) is taken only on the CPU and when the dtype was
    left to ``"auto"`` too; an explicit ``dtype`` (as stored in every index's rebuild arguments) means eager, so
    an index built before modes existed is queried exactly as it was built.

    Parameters
    ----------
    family_auto : {"eager", "compile", "int8"}
        The family's measured fastest faithful mode (``bench/results/encoder_modes.md``).
    dtype : str
        The dtype as requested (before ``"auto"`` is resolved).
    device : str
        torch device.

    Returns
    -------
    str
        ``"eager"``, ``"compile"`` or ``"int8"``.
    """
    check_choice("mode", family_auto, MODES[1:])
    if dtype == "auto" and str(device).startswith("cpu"):
        return family_auto
    return "eager"


def resolve_mode(mode: str, *, dtype: str, device: str, compilable: bool) -> str:
    """Check that a concrete mode can run with this dtype, device and family.

    Parameters
    ----------
    mode : {"eager", "compile", "int8"}
        ``"auto"`` must be resolved first (:func:`auto_mode`).
    dtype : {"float32", "bfloat16"}
        The resolved dtype.
    device : str
        torch device.
    compilable : bool
        Whether the family's forward is one call of the model.

    Returns
    -------
    str
        ``mode``.

    Raises
    ------
    ConfigError
        ``"int8"`` off the CPU or with bfloat16; ``"compile"`` for a family that cannot be compiled.
    """
    check_choice("mode", mode, MODES[1:])
    if mode == "int8" and (not str(device).startswith("cpu") or dtype != "float32"):
        raise ConfigError(
            f"mode='int8' runs on the CPU in float32 only; got device={device!r}, dtype={dtype!r}",
            hint="use dtype='float32' (or 'auto') on device 'cpu', or mode='eager'",
        )
    if mode == "compile" and not compilable:
        raise ConfigError(
            "mode='compile' is not supported by this encoder (its forward is not one call of the model)",
            hint="use mode='eager' or mode='int8'",
        )
    return mode


def apply_mode(model: Any, mode: str) -> Any:
    """The model to run for ``mode`` (the same object for ``"eager"``).

    Parameters
    ----------
    model : torch.nn.Module
        Already on its device and dtype, in eval mode.
    mode : {"eager", "compile", "int8"}

    Returns
    -------
    torch.nn.Module
        ``model``, a dynamically quantised copy, or a compiled wrapper (attribute access reaches the model).
    """
    import torch

    if mode == "int8":
        with warnings.catch_warnings():  # torch.ao.quantization deprecation notices
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    if mode == "compile":
        return torch.compile(model)
    return model
