"""Frozen audio encoders behind one interface (see :mod:`embedstore.encoders.base`)."""

from embedstore.encoders.base import Encoder, EncoderInfo, register_encoder
from embedstore.encoders.catalog import available_encoders, get_encoder

__all__ = ["Encoder", "EncoderInfo", "available_encoders", "get_encoder", "register_encoder"]
