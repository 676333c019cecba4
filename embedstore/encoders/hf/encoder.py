"""The machinery every ``transformers`` encoder shares: loading, dtype, chunking over windows and time.

Task
----
:class:`TransformersEncoder` turns windows ``(n_windows, n_samples)`` into ``[n_layers, n_windows, n_frames,
dim]`` hidden states: it validates the input, splits windows longer than the model's context into equal chunks
on the model's hop grid, runs ``batch_size`` windows at a time under ``torch.inference_mode``, keeps the frames
that cover real samples, and concatenates. A family module implements ``_load``, ``_forward`` and ``_n_frames``
and registers its names with :func:`register_transformers_encoder`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.encoders.base import Encoder, EncoderInfo, check_windows, register_encoder, split_even
from embedstore.encoders.hf.loading import (
    DTYPES,
    DType,
    quiet_transformers,
    resolve_dtype,
    resolve_model_dir,
    weights_sha256,
)
from embedstore.encoders.hf.modes import MODES, Mode, apply_mode, auto_mode, resolve_mode
from embedstore.errors import ConfigError, check_choice

if TYPE_CHECKING:
    import torch


class TransformersEncoder(Encoder):
    """Shared machinery: loading, dtype, chunking over windows and time, provenance.

    Subclasses implement ``_load(model_dir)`` (set ``self.model``, ``sample_rate``, ``dim``, ``layer_names``,
    ``frame_rate``), ``_forward(x)`` (float32 tensor ``[B, n]`` -> ``[n_layers, B, T, dim]``) and
    ``_n_frames(n)`` (frames that cover ``n`` real samples of one chunk).

    Parameters
    ----------
    model_dir : path
        Local ``from_pretrained`` directory.
    name, model_id : str
        Registry name and hub id (or path) for provenance.
    commit : str, optional
        Hub commit; otherwise the revision is the sha256 prefix of the weights file.
    dtype : {"auto", "float32", "bfloat16"}
    device : str
        torch device.
    batch_size : int
        Windows per forward pass.
    mode : {"auto", "eager", "compile", "int8"}
        How the model runs (:mod:`embedstore.encoders.hf.modes`); ``"int8"`` makes ``dtype="auto"`` float32;
        ``"auto"`` is the family's measured choice when ``dtype`` is ``"auto"`` too, else eager.
    description : str
    rebuild_kwargs : dict, optional
        What ``load_kwargs()`` reports besides ``dtype`` (``model_path``, ``revision``).
    """

    kind = "transformers"
    #: Longest chunk (seconds) the model takes in one pass; longer windows are split.
    max_input_s: float | None = None
    #: Chunk boundaries fall on multiples of this many samples (the model's frame hop).
    _align: int = 1
    #: What ``mode="auto"`` picks for this family (measured: ``bench/results/encoder_modes.md``).
    _auto_mode: str = "eager"
    #: Whether ``_forward`` is one call of ``self.model`` (so ``mode="compile"`` compiles all of it).
    _compilable: bool = False
    #: The torch module (set by ``_load``).
    model: Any

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        name: str,
        model_id: str,
        commit: str | None = None,
        dtype: DType = "auto",
        device: str = "cpu",
        batch_size: int = 8,
        mode: Mode = "auto",
        description: str = "",
        rebuild_kwargs: dict[str, Any] | None = None,
    ) -> None:
        check_choice("dtype", dtype, DTYPES)
        check_choice("mode", mode, MODES)
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        import torch

        self.name = name
        self.model_id = model_id
        self.model_dir = Path(model_dir)
        self.device = str(device)
        self.batch_size = int(batch_size)
        self.description = description
        want = auto_mode(self._auto_mode, dtype=dtype, device=self.device) if mode == "auto" else mode
        self.dtype = "float32" if (want == "int8" and dtype == "auto") else resolve_dtype(dtype, self.device)
        self._torch_dtype = torch.bfloat16 if self.dtype == "bfloat16" else torch.float32
        self.revision = commit or weights_sha256(self.model_dir)
        self._rebuild_kwargs = {k: v for k, v in (rebuild_kwargs or {}).items() if v is not None}
        with quiet_transformers():
            self._load(self.model_dir)
        self.model.to(device=self.device, dtype=self._torch_dtype)
        self.model.eval()
        self.model.requires_grad_(False)
        self.mode = resolve_mode(want, dtype=self.dtype, device=self.device, compilable=self._compilable)
        self.model = apply_mode(self.model, self.mode)

    # -- to implement ------------------------------------------------------------------------------------------
    def _load(self, model_dir: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _n_frames(self, n_samples: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------------------
    def _batches(self, windows: np.ndarray) -> Iterator[np.ndarray]:
        """Yield ``[n_layers, b, n_frames, dim]`` float32 arrays, ``batch_size`` windows at a time."""
        import torch

        w = check_windows(windows, sample_rate=self.sample_rate, min_window_s=self.min_window_s)
        max_len = int(round(self.max_input_s * self.sample_rate)) if self.max_input_s else None
        pieces = split_even(w.shape[1], max_len, align=self._align)
        with torch.inference_mode():
            for i in range(0, w.shape[0], self.batch_size):
                parts = []
                for a, b in pieces:
                    f = self._forward(torch.from_numpy(w[i : i + self.batch_size, a:b]))
                    parts.append(f[:, :, : self._n_frames(b - a)].float().cpu())
                yield torch.cat(parts, dim=2).numpy()

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Per-frame features of every layer.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples), float32 at ``sample_rate``

        Returns
        -------
        np.ndarray, shape (n_layers, n_windows, n_frames, dim), float32
        """
        out = np.concatenate(list(self._batches(windows)), axis=1)
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Mean over frames of every layer (computed batch by batch: the frames of all windows are never held).

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples), float32 at ``sample_rate``

        Returns
        -------
        np.ndarray, shape (n_layers, n_windows, dim), float32
        """
        out = np.concatenate([f.mean(axis=2) for f in self._batches(windows)], axis=1)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _to_model(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(device=self.device, dtype=self._torch_dtype)

    def _output_params(self) -> dict[str, Any]:
        """What changes the numbers for every family: dtype, and int8 quantisation (``compile`` does not)."""
        return {"dtype": self.dtype, **({"mode": "int8"} if self.mode == "int8" else {})}

    def params(self) -> dict[str, Any]:
        """Settings that change the output: the resolved dtype (and ``mode`` when it is ``"int8"``)."""
        return self._output_params()

    def load_kwargs(self) -> dict[str, Any]:
        """``get_encoder(self.name, **load_kwargs())`` rebuilds this encoder (local copy, hub revision, and the
        resolved dtype, so that ``"auto"`` cannot resolve differently on the machine that embeds the queries;
        ``mode="int8"`` likewise, while ``"compile"``, a speed choice, is not imposed on query embedding)."""
        return {**self._rebuild_kwargs, **self._output_params()}

    def info(self) -> EncoderInfo:
        """Static facts, with ``kind="transformers"`` and the description."""
        i = super().info()
        i.kind = "transformers"
        i.description = self.description
        return i

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, model_id={self.model_id!r}, dim={self.dim}, "
            f"n_layers={self.n_layers}, sample_rate={self.sample_rate}, dtype={self.dtype!r}, "
            f"mode={self.mode!r})"
        )


def build_registered(
    cls: type[TransformersEncoder],
    name: str,
    model_id: str,
    description: str,
    *,
    model_path: str | os.PathLike[str] | None,
    dtype: DType,
    revision: str | None,
    device: str,
    batch_size: int,
    mode: Mode = "auto",
) -> TransformersEncoder:
    """Build a registered encoder: find the model (``model_path`` or the hub cache), then ``cls(...)``.

    The stored ``model_id`` is the hub id even when loaded from a local copy; the revision tells copies apart.
    """
    check_choice("dtype", dtype, DTYPES)
    check_choice("mode", mode, MODES)
    model_dir, commit = resolve_model_dir(model_id, model_path=model_path, revision=revision)
    return cls(
        model_dir,
        name=name,
        model_id=model_id,
        commit=commit,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        mode=mode,
        description=description,
        rebuild_kwargs={"model_path": None if model_path is None else str(model_path), "revision": revision},
    )


def register_transformers_encoder(
    name: str,
    cls: type[TransformersEncoder],
    model_id: str,
    sample_rate: int,
    dim: int,
    n_layers: int,
    description: str,
) -> Callable[..., Encoder]:
    """Register ``name`` as a factory of ``cls`` for hub model ``model_id`` and return the factory.

    Parameters
    ----------
    name : str
        Registry name.
    cls : TransformersEncoder subclass
    model_id : str
        Hub id.
    sample_rate, dim, n_layers : int
        Static facts (Hz, vector size, layers) shown without loading the model.
    description : str

    Returns
    -------
    callable
        ``factory(*, model_path=None, dtype="auto", revision=None, device="cpu", batch_size=8, mode="auto")
        -> Encoder``.
    """

    @register_encoder(
        name,
        kind="transformers",
        description=description,
        sample_rate=sample_rate,
        dim=dim,
        n_layers=n_layers,
        model_id=model_id,
    )
    def factory(
        *,
        model_path: str | os.PathLike[str] | None = None,
        dtype: DType = "auto",
        revision: str | None = None,
        device: str = "cpu",
        batch_size: int = 8,
        mode: Mode = "auto",
    ) -> Encoder:
        """Build the encoder (replaced below by a docstring naming the model)."""
        return build_registered(
            cls,
            name,
            model_id,
            description,
            model_path=model_path,
            dtype=dtype,
            revision=revision,
            device=device,
            batch_size=batch_size,
            mode=mode,
        )

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = (
        f"{description}\n\nKeyword arguments: ``model_path`` (local from_pretrained dir instead of "
        f"``{model_id}``), ``dtype`` ('auto', 'float32', 'bfloat16'), ``revision``, ``device``, ``batch_size``, ``mode`` "
        "('auto', 'eager', 'compile', 'int8')."
    )
    return factory
