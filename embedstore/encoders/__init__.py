"""Frozen audio encoders behind one interface (see :mod:`embedstore.encoders.base`)."""

from embedstore.encoders.base import Encoder, EncoderInfo, available_encoders, get_encoder, register_encoder

__all__ = ["Encoder", "EncoderInfo", "available_encoders", "get_encoder", "register_encoder"]
