"""The catalogue of built-in encoders: imports each implementation so its ``@register_encoder`` runs.

:mod:`embedstore.encoders.base` holds the interface and the registry and imports no implementation; this module
sits above both, so the registry and its entries form no import cycle.
"""

from __future__ import annotations

from typing import Any

from embedstore.encoders import base, basic_pitch, bssl, handcrafted, hf, madmom_rnn, transkun  # noqa: F401  (registration)
from embedstore.encoders.base import Encoder, _Entry
from embedstore.encoders.concat import SEPARATOR, ConcatEncoder
from embedstore.errors import ConfigError, EncoderError


def available_encoders() -> dict[str, _Entry]:
    """Every registered encoder by name, with the static facts ``embedstore encoders`` shows."""
    return base.registered_encoders()


def get_encoder(spec: str, **kwargs: Any) -> Encoder:
    """Build an encoder from a registry name, ``hf:/path/to/model`` (any local ``from_pretrained`` dir) or a
    combination of registry names joined by ``+`` (frames and vectors side by side, :class:`ConcatEncoder`).

    Parameters
    ----------
    spec : str
        A registered name (``available_encoders()``), ``"hf:<dir>"`` or names joined by ``+``.
    **kwargs
        Passed to the factory (e.g. ``model_path=`` to load a registered model from a local directory instead
        of the hub id, ``dtype="bfloat16"``); for a combination, one dict of options per part, keyed by its name.

    Returns
    -------
    Encoder

    Raises
    ------
    ConfigError
        Unknown name or invalid options.
    EncoderError
        The model could not be built (e.g. weights not available offline).
    """
    registry = base.registered_encoders()
    if SEPARATOR in spec and not spec.startswith("hf:"):  # a combination, e.g. "madmom+bssl"
        names = [s.strip() for s in spec.split(SEPARATOR)]
        bad = sorted(k for k, v in kwargs.items() if k not in names or not isinstance(v, dict))
        if bad:
            raise ConfigError(
                f"options of a combination are given per part, got {bad}",
                hint='e.g. get_encoder("madmom+bssl", madmom={"num_models": 2})',
            )
        return ConcatEncoder([get_encoder(n, **kwargs.get(n, {})) for n in names])
    if spec.startswith("hf:"):
        return hf.load_hf_encoder(spec[3:], **kwargs)
    if spec not in registry:
        valid = ", ".join(sorted(registry))
        raise ConfigError(f"unknown encoder {spec!r}; valid: {valid}, or hf:/path/to/model")
    try:
        return registry[spec].factory(**kwargs)
    except ConfigError:
        raise
    except EncoderError:
        raise
    except Exception as e:  # noqa: BLE001
        raise EncoderError(f"could not build encoder {spec!r}: {e}") from e
