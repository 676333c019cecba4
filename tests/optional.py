"""Skip markers for the optional encoders whose packages ship their weights (shared by the test files)."""

from __future__ import annotations

import importlib.util

import pytest

needs_basic_pitch = pytest.mark.skipif(
    importlib.util.find_spec("basic_pitch") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="basic-pitch / onnxruntime not installed (pip install --no-deps basic-pitch)",
)
needs_transkun = pytest.mark.skipif(
    importlib.util.find_spec("transkun") is None or importlib.util.find_spec("torch") is None,
    reason="transkun / torch not installed (pip install --no-deps transkun)",
)
