"""One small exception hierarchy.

Every error carries a one-line message and, where useful, a ``hint`` telling the user what to do.
The CLI prints ``error: <message>`` and ``hint: <hint>`` and exits non-zero instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


class EmbedstoreError(Exception):
    """Base class of all embedstore errors."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ConfigError(EmbedstoreError, ValueError):
    """An invalid option or argument (bad mode, unknown encoder, bad window...)."""


class AudioError(EmbedstoreError):
    """A file could not be used as audio. ``reason`` is a short machine-readable code.

    Reason codes: ``empty``, ``not_audio``, ``corrupt``, ``truncated``, ``silent``, ``non_finite``,
    ``too_long``, ``too_short``, ``unreadable``, ``missing``.
    """

    def __init__(
        self, message: str, *, reason: str, path: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
        self.path = path


class EncoderError(EmbedstoreError):
    """An encoder could not be built or loaded, or failed on its input."""


class StoreError(EmbedstoreError):
    """The store is missing, corrupt, or does not hold what was asked for."""


class SearchError(EmbedstoreError):
    """A search could not be carried out (no such space, bad filter, bad query...)."""


class ProvenanceError(EmbedstoreError):
    """Embeddings, probes or projections were built with another encoder/layer/window/pooling."""


def check_choice(name: str, value: Any, choices: Collection[Any]) -> None:
    """Validate a ``Literal`` mode up front; the error lists the valid values (librosa style).

    Parameters
    ----------
    name : str
        The option's name, as the user wrote it.
    value : object
        The value given.
    choices : collection
        The valid values, in the order the error lists them.

    Raises
    ------
    ConfigError
        ``invalid name='x'; valid values: 'a', 'b'`` when ``value`` is not one of ``choices``.
    """
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"invalid {name}={value!r}; valid values: {valid}")
