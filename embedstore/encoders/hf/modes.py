"""How a ``transformers`` encoder runs on its device: eager, ``torch.compile``, or dynamic int8.

``mode`` is a speed choice with a faithfulness cost that was measured (``bench/bench_encoder_modes.py``,
``bench/results/encoder_modes.md``):

- ``"eager"``: the model as loaded (float32 or bfloat16, see ``dtype``).
- ``"compile"``: ``torch.compile`` (inductor) of the model's forward; same numbers up to float rounding, a
  one-off compile on the first batch of each input shape. Only for families whose forward is one call of the
  model (``TransformersEncoder._compilable``).
- ``"int8"``: dynamic int8 quantisation of every ``nn.Linear`` (weights int8, activations quantised per batch);
  CPU and float32 only. It changes the vectors a little, so it is part of the provenance.
- ``"auto"``: :func:`resolve_mode`'s measured rule.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from embedstore.errors import ConfigError, check_choice

MODES = ("auto", "eager", "compile", "int8")
Mode = Literal["auto", "eager", "compile", "int8"]


def resolve_mode(mode: str, *, dtype: str, device: str, compilable: bool) -> str:
    """The mode an encoder runs in: ``"auto"`` resolved by the measured rule, others checked.

    Parameters
    ----------
    mode : {"auto", "eager", "compile", "int8"}
    dtype : {"float32", "bfloat16"}
        The resolved dtype.
    device : str
        torch device.
    compilable : bool
        Whether the family's forward is one call of the model.

    Returns
    -------
    str
        ``"eager"``, ``"compile"`` or ``"int8"``.

    Raises
    ------
    ConfigError
        ``"int8"`` off the CPU or with bfloat16; ``"compile"`` for a family that cannot be compiled.
    """
    check_choice("mode", mode, MODES)
    if mode == "auto":
        cpu_fp32 = str(device).startswith("cpu") and dtype == "float32"
        if (AUTO_MODE == "int8" and not cpu_fp32) or (AUTO_MODE == "compile" and not compilable):
            return "eager"
        return AUTO_MODE
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


#: What ``mode="auto"`` resolves to (see ``bench/results/encoder_modes.md``).
AUTO_MODE = "eager"


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
