"""Frozen pretrained audio encoders loaded with Hugging Face ``transformers`` (all hidden layers).

Task
----
Turn mono windows (float32, shape ``(n_windows, n_samples)`` at the encoder's ``sample_rate``) into per-layer
features: ``frames()`` -> ``[n_layers, n_windows, n_frames, dim]`` at ``frame_rate`` Hz and ``embed()`` ->
``[n_layers, n_windows, dim]`` (mean over frames). Every hidden state the model exposes at its output width is a
layer (``output_hidden_states=True``); layer 0 is the input embedding where the model has one.

Registered encoders (``kind="transformers"``)
---------------------------------------------
=====================  ===========================================  ======  =====  ======  =========
name                   model (hub id)                               sr Hz   dim    layers  frames/s
=====================  ===========================================  ======  =====  ======  =========
``mert-v1-95m``        m-a-p/MERT-v1-95M (native ``HubertModel``)   24000   768    13      75
``mert-v1-330m``       m-a-p/MERT-v1-330M (native ``HubertModel``)  24000   1024   25      75
``dac-44khz``          descript/dac_44khz (``DacModel``)            44100   1024   3       86.13
``encodec-24khz``      facebook/encodec_24khz (``EncodecModel``)    24000   128    2       75
``clap-htsat-unfused`` laion/clap-htsat-unfused (audio tower)       48000   768    4       3.2
``ast``                MIT/ast-finetuned-audioset-10-10-0.4593      16000   768    13      10
``whisper-base``       openai/whisper-base (encoder only)           16000   512    7       50
``audiomae``           gaunernst/vit_base_patch16_1024_128          16000   768    13      6.25
                       .audiomae_as2m (as a ``ViTModel``)
=====================  ===========================================  ======  =====  ======  =========

Conventions
-----------
- Weights are never downloaded implicitly: ``HF_HUB_OFFLINE`` is assumed unless the environment sets it to
  ``0``; a model that is not in the local cache fails fast with :class:`~embedstore.errors.EncoderError` and a
  hint. ``model_path=`` loads a local ``from_pretrained`` directory instead of the hub id;
  ``get_encoder("hf:/dir")`` dispatches on ``config.json``'s ``model_type`` (:func:`load_hf_encoder`).
- No ``trust_remote_code``. MERT's hub code subclasses ``HubertModel`` and breaks on transformers 5, so MERT is
  loaded into the native ``HubertModel`` (``model_type`` rewritten to ``hubert``). This is exact for both v1
  checkpoints: MERTModel builds the stock ``HubertEncoder`` (95M, post-LN) or ``HubertEncoderStableLayerNorm``
  (330M, ``do_stable_layer_norm=True``, ``feat_extract_norm="layer"``), and its feature projection equals
  HuBERT's when ``feature_extractor_cqt=False``. MERT's own layer is only used with ``deepnorm=True`` (residual
  scaling, post-LN), whose ``attention_relax`` merely subtracts the row maximum before the softmax (a no-op);
  ``deepnorm=True`` and ``feature_extractor_cqt=True`` have no native equivalent and are refused.
- Frames keep only the part that covers the real input: fixed-context models (AST and AudioMAE 10.24 s, CLAP
  10 s, Whisper 30 s) process longer windows in equal consecutive chunks and concatenate the frames.
- Layers must share one width (the encoder contract), so hierarchical models expose the layers at their output
  width: DAC = last encoder block, continuous latent ``z`` (pre-quantisation), quantised ``z_q``; EnCodec =
  latent and quantised latent (all codebooks); CLAP/HTSAT = stage-3 output (after patch merging), each block of
  the last stage, final norm. The narrower early stages are not exposed.
- ``dtype="auto"`` picks bfloat16 only where it is fast (CPU with AVX512-BF16/AMX, or a CUDA device with bf16),
  float32 otherwise; see ``bench/bench_encoders.py`` and ``bench/results/encoders.json`` for the measurement
  behind the rule. The resolved dtype is part of ``params()`` and so of the provenance.
- ``provenance()["revision"]`` is the hub commit hash when known (a cache snapshot), else the first 12 hex
  digits of the sha256 of the weights file.

AudioMAE one-time conversion
----------------------------
The timm port (``gaunernst/vit_base_patch16_1024_128.audiomae_as2m``) is converted on the fly when loaded from
the hub cache or a timm-format directory. To store a converted copy (``config.json`` + ``model.safetensors``)::

    python -c "from embedstore.encoders.hf import convert_timm_audiomae; \\
               convert_timm_audiomae('path/to/timm_dir_or_weights', 'audiomae-vit')"
    embedstore ... --encoder hf:audiomae-vit
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from embedstore.encoders.base import Encoder, EncoderInfo, register_encoder
from embedstore.errors import AudioError, ConfigError, EncoderError, check_choice

DTYPES = ("auto", "float32", "bfloat16")
DType = Literal["auto", "float32", "bfloat16"]

#: AudioSet log-mel statistics used by AST and AudioMAE (input is ``(fbank - mean) / (2 * std)``).
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974

_MISSING_HINT = (
    "download it with `huggingface-cli download {model_id}` on a machine with internet, "
    "or pass --encoder hf:/local/dir"
)

# --------------------------------------------------------------------------------------------------------------
# Small shared helpers (also used by embedstore.encoders.wheel)
# --------------------------------------------------------------------------------------------------------------


def check_windows(windows, *, sample_rate: int, min_window_s: float = 0.0) -> np.ndarray:
    """Validate encoder input and return it as a C-contiguous float32 array.

    Parameters
    ----------
    windows : array-like, shape (n_windows, n_samples)
    sample_rate : int
        Only used in the error message for too-short windows.
    min_window_s : float
        Shortest accepted window, seconds.

    Returns
    -------
    np.ndarray, shape (n_windows, n_samples), float32
    """
    w = np.asarray(windows)
    if w.ndim != 2:
        raise ConfigError(f"windows must have shape (n_windows, n_samples); got shape {w.shape}")
    if w.shape[0] == 0:
        raise ConfigError("no windows to encode (n_windows == 0)")
    if not np.issubdtype(w.dtype, np.floating):
        raise ConfigError(f"windows must be floating point audio in [-1, 1]; got dtype {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if not np.isfinite(w).all():
        raise AudioError("windows contain NaN or infinite samples", reason="non_finite")
    min_n = int(math.ceil(min_window_s * sample_rate))
    if w.shape[1] < max(min_n, 1):
        raise ConfigError(
            f"windows of {w.shape[1]} samples are too short: need at least {min_window_s:g} s "
            f"({min_n} samples at {sample_rate} Hz)"
        )
    return w


def _split_even(n: int, max_len: int | None, align: int = 1) -> list[tuple[int, int]]:
    """Split ``range(n)`` into the fewest near-equal consecutive pieces of at most ``max_len`` samples.

    Piece boundaries fall on multiples of ``align`` (a model's hop), so frame grids of the pieces line up.
    """
    if not max_len or n <= max_len:
        return [(0, n)]
    align = max(1, int(align))
    units, max_units = math.ceil(n / align), max(1, max_len // align)
    k = math.ceil(units / max_units)
    edges = [min(n, round(i * units / k) * align) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bfloat16 matrix instructions (AVX512-BF16 or AMX-BF16).

    Without them PyTorch emulates bf16 matmuls and bf16 is *slower* than fp32 (see ``bench/bench_encoders.py``).
    """
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    if flags:
        return ("avx512_bf16" in flags.split()) or ("amx_bf16" in flags.split())
    try:  # non-Linux: ask oneDNN
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001
        return False


def resolve_dtype(dtype: str, device: str = "cpu") -> str:
    """Resolve ``"auto"`` to ``"bfloat16"`` where it is fast and accurate enough, else ``"float32"``.

    The rule (measured in ``bench/results/encoders.json``): bf16 keeps per-layer cosine to fp32 above 0.999 on
    MERT-shaped models, but without native bf16 instructions it is several times slower on CPU.
    """
    check_choice("dtype", dtype, DTYPES)
    if dtype != "auto":
        return dtype
    if str(device).startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if cpu_has_fast_bf16() else "float32"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")


def _hub_cache_dir() -> str:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.path.join(home, "hub")


_SNAPSHOT_RE = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)")


def resolve_model_dir(
    model_id: str, *, model_path: str | os.PathLike | None = None, revision: str | None = None
):
    """Local directory holding the model, and the hub commit hash when known.

    ``model_path`` wins; otherwise the hub cache is used (``local_files_only`` unless ``HF_HUB_OFFLINE=0``).

    Returns
    -------
    (Path, str | None)
    """
    if model_path is not None:
        p = Path(model_path).expanduser()
        if not (p / "config.json").is_file():
            raise EncoderError(
                f"{p} is not a model directory (no config.json)",
                hint="pass a directory written by save_pretrained / huggingface-cli download",
            )
        m = _SNAPSHOT_RE.search(str(p.resolve()))
        return p, (m.group(1) if m else None)
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(
            model_id,
            revision=revision,
            cache_dir=_hub_cache_dir(),
            local_files_only=_offline(),
            allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"],
        )
    except Exception as e:  # noqa: BLE001 - any failure here means "not available locally"
        raise EncoderError(
            f"model {model_id!r} is not available offline ({type(e).__name__})",
            hint=_MISSING_HINT.format(model_id=model_id),
        ) from e
    p = Path(local)
    m = _SNAPSHOT_RE.search(str(p))
    return p, (m.group(1) if m else None)


def _weights_file(model_dir: Path) -> Path | None:
    for name in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"):
        if (model_dir / name).is_file():
            return model_dir / name
    found = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    return found[0] if found else None


def weights_sha256(model_dir: Path, n_hex: int = 12) -> str:
    """First ``n_hex`` hex digits of the sha256 of the weights file (``""`` when there is none)."""
    f = _weights_file(Path(model_dir))
    if f is None:
        return ""
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n_hex]


def read_state_dict(model_dir: Path) -> dict:
    """All tensors of a checkpoint directory (safetensors, sharded safetensors, or ``.bin`` read weights-only)."""
    import torch
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    if (model_dir / "model.safetensors").is_file():
        return load_file(str(model_dir / "model.safetensors"))
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        sd: dict = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            sd.update(load_file(str(model_dir / shard)))
        return sd
    if (model_dir / "pytorch_model.bin").is_file():
        try:
            return torch.load(model_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise EncoderError(f"could not read {model_dir / 'pytorch_model.bin'} weights-only: {e}") from e
    raise EncoderError(f"no weights (model.safetensors / pytorch_model.bin) in {model_dir}")


def _check_loading_info(info: dict, where: str, ignore: tuple[str, ...] = ()) -> None:
    missing = [k for k in info.get("missing_keys", []) if not any(s in k for s in ignore)]
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise EncoderError(
            f"{where}: {len(missing)} weights missing from the checkpoint (e.g. {shown}); "
            "the model would run with random weights",
            hint="check that the directory holds the model the encoder expects",
        )


def _from_state_dict(cls, config, state_dict: dict, where: str, prefixes: tuple[str, ...] = ("",), **kw):
    """``cls.from_pretrained`` on in-memory tensors (the tensors under the first matching key prefix).

    Going through ``from_pretrained`` applies transformers' checkpoint-name conversions; missing weights are
    refused (:func:`_check_loading_info`).
    """
    for p in prefixes:
        sub = {k[len(p) :]: v for k, v in state_dict.items() if k.startswith(p)}
        if sub:
            break
    else:
        raise EncoderError(f"{where}: no weights with prefix {' or '.join(repr(p) for p in prefixes)}")
    model, info = cls.from_pretrained(None, config=config, state_dict=sub, output_loading_info=True, **kw)
    _check_loading_info(info, where)
    return model


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise EncoderError(f"{path} is not valid JSON: {e}") from e


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load reports and progress bars while loading (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


# --------------------------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------------------------


class TransformersEncoder(Encoder):
    """Shared machinery: loading, dtype, chunking over windows and time, provenance.

    Subclasses implement ``_load(model_dir)`` (set ``self.model``, ``sample_rate``, ``dim``, ``layer_names``,
    ``frame_rate``), ``_forward(x)`` (float32 tensor ``[B, n]`` -> ``[n_layers, B, T, dim]``) and
    ``_n_frames(n)`` (frames that cover ``n`` real samples of one chunk).
    """

    kind = "transformers"
    #: Longest chunk (seconds) the model takes in one pass; longer windows are split.
    max_input_s: float | None = None
    #: Chunk boundaries fall on multiples of this many samples (the model's frame hop).
    _align: int = 1

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        name: str,
        model_id: str,
        commit: str | None = None,
        dtype: DType = "auto",
        device: str = "cpu",
        batch_size: int = 8,
        description: str = "",
        rebuild_kwargs: dict | None = None,
    ):
        check_choice("dtype", dtype, DTYPES)
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        import torch

        self.name = name
        self.model_id = model_id
        self.model_dir = Path(model_dir)
        self.device = str(device)
        self.batch_size = int(batch_size)
        self.description = description
        self.dtype = resolve_dtype(dtype, self.device)
        self._torch_dtype = torch.bfloat16 if self.dtype == "bfloat16" else torch.float32
        self.revision = commit or weights_sha256(self.model_dir)
        self._rebuild_kwargs = {k: v for k, v in (rebuild_kwargs or {}).items() if v is not None}
        with _quiet_transformers():
            self._load(self.model_dir)
        self.model.to(device=self.device, dtype=self._torch_dtype)
        self.model.eval()
        self.model.requires_grad_(False)

    # -- to implement ------------------------------------------------------------------------------------------
    def _load(self, model_dir: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _n_frames(self, n_samples: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------------------
    def _batches(self, windows):
        """Yield ``[n_layers, b, n_frames, dim]`` float32 arrays, ``batch_size`` windows at a time."""
        import torch

        w = check_windows(windows, sample_rate=self.sample_rate, min_window_s=self.min_window_s)
        max_len = int(round(self.max_input_s * self.sample_rate)) if self.max_input_s else None
        pieces = _split_even(w.shape[1], max_len, align=self._align)
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

    def _to_model(self, t):
        return t.to(device=self.device, dtype=self._torch_dtype)

    def params(self) -> dict:
        return {"dtype": self.dtype}

    def load_kwargs(self) -> dict:
        """``get_encoder(self.name, **load_kwargs())`` rebuilds this encoder (local copy, hub revision, and the
        resolved dtype, so that ``"auto"`` cannot resolve differently on the machine that embeds the queries)."""
        return {**self._rebuild_kwargs, "dtype": self.dtype}

    def info(self) -> EncoderInfo:
        i = super().info()
        i.kind = "transformers"
        i.description = self.description
        return i

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, model_id={self.model_id!r}, dim={self.dim}, "
            f"n_layers={self.n_layers}, sample_rate={self.sample_rate}, dtype={self.dtype!r})"
        )


# --------------------------------------------------------------------------------------------------------------
# MERT / HuBERT / wav2vec 2.0
# --------------------------------------------------------------------------------------------------------------

_HUBERT_TYPES = ("hubert", "mert_model", "mert")
_W2V_TYPES = ("wav2vec2",)


class MertEncoder(TransformersEncoder):
    """MERT (or any HuBERT / wav2vec 2.0 checkpoint) through the native transformers model.

    Input is normalised per window to zero mean and unit variance (``Wav2Vec2FeatureExtractor``
    ``do_normalize=True``) unless ``preprocessor_config.json`` says ``do_normalize: false``.
    """

    min_window_s = 0.1

    def _load(self, model_dir: Path) -> None:
        from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

        cfg = _read_json(model_dir / "config.json")
        mtype = cfg.get("model_type", "")
        if cfg.get("deepnorm"):
            raise EncoderError(
                f"{model_dir}: deepnorm=True (scaled residuals) has no native transformers equivalent",
                hint="only MERT checkpoints with deepnorm=false are supported",
            )
        if cfg.get("feature_extractor_cqt"):
            raise EncoderError(
                f"{model_dir}: feature_extractor_cqt=True (CQT input branch) has no native equivalent",
                hint="only MERT checkpoints with feature_extractor_cqt=false are supported",
            )
        for k in ("auto_map", "architectures", "model_type"):
            cfg.pop(k, None)
        if mtype in _W2V_TYPES:
            config, cls = Wav2Vec2Config.from_dict(cfg), Wav2Vec2Model
        else:
            config, cls = HubertConfig.from_dict(cfg), HubertModel
        model, info = cls.from_pretrained(
            str(model_dir), config=config, local_files_only=True, output_loading_info=True
        )
        # masked_spec_embed is only used for SpecAugment during training.
        _check_loading_info(info, str(model_dir), ignore=("masked_spec_embed",))
        self.model = model
        pre = _read_json(model_dir / "preprocessor_config.json")
        self.do_normalize = bool(pre.get("do_normalize", True))
        self.sample_rate = int(pre.get("sampling_rate") or cfg.get("sample_rate") or 16000)
        hop = int(np.prod(config.conv_stride))
        self.frame_rate = self.sample_rate / hop
        self.dim = int(config.hidden_size)
        self.layer_names = [f"L{i}" for i in range(config.num_hidden_layers + 1)]
        self._hop = hop
        self._kernels = list(zip(config.conv_kernel, config.conv_stride))

    def _forward(self, x):
        import torch

        if self.do_normalize:
            x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(
                x.var(dim=1, keepdim=True, unbiased=False) + 1e-7
            )
        out = self.model(self._to_model(x), output_hidden_states=True)
        return torch.stack(out.hidden_states)

    def _n_frames(self, n_samples: int) -> int:
        n = n_samples
        for k, s in self._kernels:
            n = (n - k) // s + 1
        return n

    def params(self) -> dict:
        return {"dtype": self.dtype, "do_normalize": self.do_normalize}


# --------------------------------------------------------------------------------------------------------------
# DAC and EnCodec (neural codecs)
# --------------------------------------------------------------------------------------------------------------


class DacEncoder(TransformersEncoder):
    """Descript Audio Codec encoder: last encoder block, continuous latent ``z``, quantised ``z_q``."""

    min_window_s = 0.05

    def _load(self, model_dir: Path) -> None:
        from transformers import DacModel

        model, info = DacModel.from_pretrained(
            str(model_dir), local_files_only=True, output_loading_info=True
        )
        _check_loading_info(info, str(model_dir))
        self.model = model
        c = model.config
        self.sample_rate = int(c.sampling_rate)
        self._hop = int(np.prod(c.downsampling_ratios))
        self.frame_rate = self.sample_rate / self._hop
        self.dim = int(c.hidden_size)
        d_model = int(c.encoder_hidden_size * 2 ** len(c.downsampling_ratios))
        self._with_block = d_model == self.dim
        n_blocks = len(c.downsampling_ratios)
        self.layer_names = ([f"encoder.block{n_blocks}"] if self._with_block else []) + [
            "latent",
            "quantized",
        ]

    def _forward(self, x):
        import torch

        enc = self.model.encoder
        h = enc.conv1(self._to_model(x).unsqueeze(1))
        for block in enc.block:
            h = block(h)
        z = enc.conv2(enc.snake1(h))
        zq = self.model.quantizer(z)[0]
        layers = ([h] if self._with_block else []) + [z, zq]
        return torch.stack(layers).transpose(2, 3)  # [L, B, T, D]

    def _n_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self._hop)


class EncodecEncoder(TransformersEncoder):
    """EnCodec: encoder output (continuous latent) and its RVQ reconstruction at the highest bandwidth."""

    min_window_s = 0.05

    def _load(self, model_dir: Path) -> None:
        from transformers import EncodecModel

        model, info = EncodecModel.from_pretrained(
            str(model_dir), local_files_only=True, output_loading_info=True
        )
        _check_loading_info(info, str(model_dir))
        self.model = model
        c = model.config
        if int(c.audio_channels) != 1:
            raise EncoderError(
                f"{model_dir}: only mono EnCodec models are supported (audio_channels={c.audio_channels})"
            )
        self.sample_rate = int(c.sampling_rate)
        self._hop = int(np.prod(c.upsampling_ratios))
        self.frame_rate = self.sample_rate / self._hop
        self.dim = int(c.hidden_size)
        self.bandwidth = float(max(c.target_bandwidths))
        self.layer_names = ["latent", "quantized"]

    def _forward(self, x):
        import torch

        x = self._to_model(x).unsqueeze(1)
        if self.model.config.normalize:
            scale = x.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8
            x = x / scale
        z = self.model.encoder(x)
        codes = self.model.quantizer.encode(z, self.bandwidth)
        zq = self.model.quantizer.decode(codes).to(z.dtype)
        return torch.stack([z, zq]).transpose(2, 3)

    def _n_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self._hop)

    def params(self) -> dict:
        return {"dtype": self.dtype, "bandwidth_kbps": self.bandwidth}


# --------------------------------------------------------------------------------------------------------------
# CLAP audio tower (HTSAT)
# --------------------------------------------------------------------------------------------------------------


class ClapEncoder(TransformersEncoder):
    """CLAP's HTSAT audio tower (without the text tower).

    Tokens of the last stages sit on a folded (frequency x time) grid; they are unfolded back to time
    (as HTSAT does for its frame-wise output) and averaged over frequency. Each 10 s chunk gives
    ``spec_size * freq_ratio / patch / 2**(stages-1)`` time tokens (32 for the LAION models).
    """

    max_input_s = 10.0
    min_window_s = 0.1

    def _load(self, model_dir: Path) -> None:
        from transformers import ClapAudioConfig, ClapAudioModel, ClapFeatureExtractor

        cfg = _read_json(model_dir / "config.json")
        if cfg.get("model_type") == "clap":  # full CLAP checkpoint: build and load only the audio tower
            config = ClapAudioConfig.from_dict(cfg.get("audio_config", {}))
            sd = read_state_dict(model_dir)
            model = _from_state_dict(ClapAudioModel, config, sd, str(model_dir), ("audio_model.",))
        else:
            model, info = ClapAudioModel.from_pretrained(
                str(model_dir), local_files_only=True, output_loading_info=True
            )
            _check_loading_info(info, str(model_dir))
            config = model.config
        self.model = model
        if config.enable_fusion:
            raise EncoderError(
                f"{model_dir}: fused CLAP models are not supported (use the unfused checkpoint)"
            )
        if (model_dir / "preprocessor_config.json").is_file():
            fe = ClapFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
        else:
            fe = ClapFeatureExtractor(feature_size=config.num_mel_bins)
        fe.truncation = "rand_trunc"  # never triggered: chunks are <= max_length_s
        self.fe = fe
        self.sample_rate = int(fe.sampling_rate)
        self.max_input_s = float(fe.max_length_s)
        enc = model.audio_encoder
        n_stages = len(config.depths)
        self._freq_ratio = int(enc.freq_ratio)
        stride_t = enc.patch_stride[1] if isinstance(enc.patch_stride, (list, tuple)) else enc.patch_stride
        # the (time x mel) spectrogram is folded into freq_ratio groups stacked along frequency
        self._n_time = self._freq_ratio * (int(enc.spec_size) // int(stride_t) // 2 ** (n_stages - 1))
        self._n_mel_frames = int(round(fe.max_length_s * fe.sampling_rate)) // fe.hop_length + 1
        self.frame_rate = self._n_time / (self._n_mel_frames * fe.hop_length / fe.sampling_rate)
        self.dim = int(enc.num_features)
        self.layer_names = (
            [f"stage{n_stages - 1}"]
            + [f"stage{n_stages}.block{j + 1}" for j in range(config.depths[-1])]
            + ["norm"]
        )

    def _unfold(self, tokens, grid_hw):
        """[B, H*W, C] tokens on the folded grid -> [B, T, C] averaged over frequency."""
        b, _, c = tokens.shape
        h, w = grid_hw
        x = tokens.reshape(b, h, w, c)  # rows: freq_ratio groups of frequency, cols: time within group
        x = x.reshape(b, self._freq_ratio, h // self._freq_ratio, w, c)  # [B, group, f, t, C]
        x = x.mean(dim=2)  # average frequency inside the group -> [B, group, t, C]
        return x.reshape(b, self._freq_ratio * w, c)  # time = group * w + t

    def _forward(self, x):
        import torch

        feats = self.fe([a for a in x.numpy()], sampling_rate=self.sample_rate, return_tensors="pt")
        enc = self.model.audio_encoder
        captured: list = []
        hooks = [
            blk.register_forward_hook(lambda m, i, o: captured.append(o[0] if isinstance(o, tuple) else o))
            for blk in enc.layers[-1].blocks
        ]
        try:
            out = self.model(
                input_features=self._to_model(feats["input_features"]),
                output_hidden_states=True,
            )
        finally:
            for hk in hooks:
                hk.remove()
        hs = out.hidden_states  # reshaped: [B, C, H, W]; [-2] = stage n-1 output (after merging)
        stage_prev = hs[-2]
        b, c, h, w = stage_prev.shape
        grid = (h, w)
        layers = [stage_prev.flatten(2).transpose(1, 2)] + list(captured)
        layers.append(enc.norm(captured[-1]))
        return torch.stack([self._unfold(t, grid) for t in layers])

    def _n_frames(self, n_samples: int) -> int:
        n_mel = n_samples // self.fe.hop_length + 1
        return min(self._n_time, max(1, math.ceil(n_mel * self._n_time / self._n_mel_frames)))


# --------------------------------------------------------------------------------------------------------------
# AST, Whisper encoder, AudioMAE (ViT)
# --------------------------------------------------------------------------------------------------------------


def _fbank_frames(n_samples: int, *, win: int = 400, hop: int = 160) -> int:
    return 0 if n_samples < win else 1 + (n_samples - win) // hop


class AstEncoder(TransformersEncoder):
    """Audio Spectrogram Transformer: tokens of each time patch averaged over frequency patches (CLS dropped)."""

    min_window_s = 0.1

    def _load(self, model_dir: Path) -> None:
        from transformers import ASTFeatureExtractor, ASTModel

        model, info = ASTModel.from_pretrained(
            str(model_dir), local_files_only=True, output_loading_info=True
        )
        _check_loading_info(info, str(model_dir))
        self.model = model
        c = model.config
        with warnings.catch_warnings():  # "mel filter has all zero values": inherent to 128 Kaldi bins
            warnings.simplefilter("ignore", UserWarning)
            if (model_dir / "preprocessor_config.json").is_file():
                self.fe = ASTFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
            else:
                self.fe = ASTFeatureExtractor(num_mel_bins=c.num_mel_bins, max_length=c.max_length)
        self.sample_rate = int(self.fe.sampling_rate)
        self._f = (c.num_mel_bins - c.patch_size) // c.frequency_stride + 1
        self._t = (c.max_length - c.patch_size) // c.time_stride + 1
        self._tstride = int(c.time_stride)
        self._align = 160 * self._tstride
        self.frame_rate = self.sample_rate / self._align
        self.max_input_s = self._t * self._align / self.sample_rate  # 10.1 s: exactly what the patches cover
        self.dim = int(c.hidden_size)
        self.layer_names = [f"L{i}" for i in range(c.num_hidden_layers + 1)]

    def _forward(self, x):
        import torch

        feats = self.fe([a for a in x.numpy()], sampling_rate=self.sample_rate, return_tensors="pt")
        out = self.model(self._to_model(feats["input_values"]), output_hidden_states=True)
        hs = torch.stack(out.hidden_states)[:, :, 2:]  # drop CLS + distillation tokens
        n_l, b, _, d = hs.shape
        return hs.reshape(n_l, b, self._f, self._t, d).mean(dim=2)

    def _n_frames(self, n_samples: int) -> int:
        return min(self._t, max(1, math.ceil(_fbank_frames(n_samples) / self._tstride)))


class WhisperEncoderWrapper(TransformersEncoder):
    """Whisper's audio encoder (decoder weights are not loaded). Inputs are padded to 30 s, as Whisper expects;
    only the frames covering the real input are kept (50 per second)."""

    min_window_s = 0.1

    def _load(self, model_dir: Path) -> None:
        from transformers import WhisperConfig, WhisperFeatureExtractor
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        config = WhisperConfig.from_pretrained(str(model_dir), local_files_only=True)
        sd = read_state_dict(model_dir)
        self.model = _from_state_dict(
            WhisperEncoder, config, sd, str(model_dir), ("model.encoder.", "encoder.")
        )
        if (model_dir / "preprocessor_config.json").is_file():
            self.fe = WhisperFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
        else:
            self.fe = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
        self.sample_rate = int(self.fe.sampling_rate)
        self._hop = int(self.fe.hop_length) * 2  # conv2 has stride 2
        self.frame_rate = self.sample_rate / self._hop
        self._align = self._hop
        self._max_frames = int(config.max_source_positions)
        self.max_input_s = self._max_frames * self._hop / self.sample_rate
        self.dim = int(config.d_model)
        self.layer_names = [f"L{i}" for i in range(config.encoder_layers + 1)]

    def _forward(self, x):
        import torch

        feats = self.fe([a for a in x.numpy()], sampling_rate=self.sample_rate, return_tensors="pt")
        out = self.model(self._to_model(feats["input_features"]), output_hidden_states=True)
        return torch.stack(out.hidden_states)

    def _n_frames(self, n_samples: int) -> int:
        return min(self._max_frames, max(1, math.ceil(n_samples / self._hop)))


def kaldi_fbank(
    waveform: np.ndarray,
    *,
    sample_rate: int = 16000,
    n_mels: int = 128,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    preemphasis: float = 0.97,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> np.ndarray:
    """Kaldi-compatible log mel filterbank (``torchaudio.compliance.kaldi.fbank`` defaults, ``htk_compat=True``,
    ``use_energy=False``, ``window_type="hanning"``, ``dither=0``), in numpy.

    Parameters
    ----------
    waveform : np.ndarray, shape (n_samples,), float in [-1, 1]

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32, with ``n_frames = 1 + (n_samples - win) // hop``
    (``snip_edges=True``; 0 frames when shorter than one window).
    """
    x = np.asarray(waveform, dtype=np.float64)
    win = int(round(sample_rate * frame_length_ms / 1000.0))
    hop = int(round(sample_rate * frame_shift_ms / 1000.0))
    n_frames = _fbank_frames(len(x), win=win, hop=hop)
    if n_frames == 0:
        return np.zeros((0, n_mels), dtype=np.float32)
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove DC offset
    prev = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - preemphasis * prev
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))  # "hanning" (symmetric)
    n_fft = 1 << (win - 1).bit_length()
    power = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2
    banks = _kaldi_mel_banks(n_mels, n_fft, sample_rate, low_freq, high_freq)
    mel = power @ banks.T
    return np.log(np.maximum(mel, np.finfo(np.float32).eps)).astype(np.float32)


def _kaldi_mel_banks(
    n_mels: int, n_fft: int, sample_rate: int, low_freq: float, high_freq: float
) -> np.ndarray:
    """Triangular filters, linear in Kaldi's mel scale (1127 ln(1 + f/700)); shape (n_mels, n_fft // 2 + 1)."""
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)  # noqa: E731
    n_bins = n_fft // 2
    mel_low, mel_high = mel(low_freq), mel(high_freq)
    delta = (mel_high - mel_low) / (n_mels + 1)
    i = np.arange(n_mels)[:, None]
    left, center, right = mel_low + i * delta, mel_low + (i + 1) * delta, mel_low + (i + 2) * delta
    m = mel(sample_rate / n_fft * np.arange(n_bins))[None, :]
    up = (m - left) / (center - left)
    down = (right - m) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))  # no weight on the Nyquist bin


def audiomae_features(
    waveform: np.ndarray, *, n_frames: int = 1024, n_mels: int = 128, sample_rate: int = 16000
) -> np.ndarray:
    """AudioMAE input: mean-removed waveform -> Kaldi fbank -> zero-pad/cut to ``n_frames`` -> AudioSet norm.

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32: ``(fbank - mean) / (2 * std)``
    """
    x = np.asarray(waveform, dtype=np.float64)
    fb = kaldi_fbank(x - x.mean(), sample_rate=sample_rate, n_mels=n_mels)[:n_frames]
    if fb.shape[0] < n_frames:
        fb = np.pad(fb, ((0, n_frames - fb.shape[0]), (0, 0)))
    return ((fb - AUDIOSET_MEAN) / (2.0 * AUDIOSET_STD)).astype(np.float32)


def _is_timm_dir(model_dir: Path) -> bool:
    cfg = _read_json(Path(model_dir) / "config.json")
    return "model_type" not in cfg and ("architecture" in cfg or "pretrained_cfg" in cfg)


def audiomae_vit_config(**overrides):
    """``ViTConfig`` of AudioMAE ViT-B/16 on 1024 x 128 fbank (1 channel, timm LayerNorm eps 1e-6)."""
    from transformers import ViTConfig

    kw = dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        layer_norm_eps=1e-6,
        image_size=[1024, 128],
        patch_size=16,
        num_channels=1,
        qkv_bias=True,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    kw.update(overrides)
    return ViTConfig(**kw)


def convert_timm_audiomae_state_dict(sd: dict) -> dict:
    """Rename a timm ViT (AudioMAE port) state dict to transformers ``ViTModel`` checkpoint names.

    The names are those of ViT checkpoints on the hub (``encoder.layer.N.attention.attention.query``...), which
    every transformers version loads (5.x maps them onto its own module names).

    ``blocks.i.attn.qkv`` is split into query/key/value; ``norm``/``fc_norm`` become the final ``layernorm``
    (it only touches ``last_hidden_state``, never the hidden states used as layers); classifier ``head.*`` is
    dropped. Raises :class:`EncoderError` on any unknown key.
    """
    out: dict = {}
    top = {
        "cls_token": "embeddings.cls_token",
        "pos_embed": "embeddings.position_embeddings",
        "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
        "norm.weight": "layernorm.weight",
        "norm.bias": "layernorm.bias",
        "fc_norm.weight": "layernorm.weight",
        "fc_norm.bias": "layernorm.bias",
    }
    block = {
        "norm1": "layernorm_before",
        "norm2": "layernorm_after",
        "attn.proj": "attention.output.dense",
        "mlp.fc1": "intermediate.dense",
        "mlp.fc2": "output.dense",
    }
    pat = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
    for k, v in sd.items():
        if k.startswith("head.") or k.startswith("head_drop"):
            continue
        if k in top:
            out[top[k]] = v
            continue
        m = pat.match(k)
        if not m:
            raise EncoderError(f"unexpected key in the timm AudioMAE checkpoint: {k!r}")
        i, name, kind = m.groups()
        pre = f"encoder.layer.{i}."
        if name == "attn.qkv":
            q, kk, vv = v.chunk(3, dim=0)
            for part, t in (("query", q), ("key", kk), ("value", vv)):
                out[f"{pre}attention.attention.{part}.{kind}"] = t.contiguous()
        elif name in block:
            out[f"{pre}{block[name]}.{kind}"] = v
        else:
            raise EncoderError(f"unexpected key in the timm AudioMAE checkpoint: {k!r}")
    return out


def _timm_audiomae_model(src: Path):
    """Build a ``ViTModel`` from a timm AudioMAE directory or weights file."""
    from transformers import ViTModel

    src = Path(src)
    sd = read_state_dict(src) if src.is_dir() else _read_weights_file(src)
    hf = convert_timm_audiomae_state_dict(sd)
    n_layers = 1 + max(int(k.split(".")[2]) for k in hf if k.startswith("encoder.layer."))
    hidden = int(hf["embeddings.cls_token"].shape[-1])
    inter = int(hf["encoder.layer.0.intermediate.dense.weight"].shape[0])
    model_args = _read_json(src / "config.json").get("model_args", {}) if src.is_dir() else {}
    heads = int(model_args.get("num_heads") or max(1, hidden // 64))  # timm ViTs use 64-d heads
    config = audiomae_vit_config(
        hidden_size=hidden, num_hidden_layers=n_layers, num_attention_heads=heads, intermediate_size=inter
    )
    return _from_state_dict(ViTModel, config, hf, str(src), add_pooling_layer=False)


def _read_weights_file(f: Path) -> dict:
    import torch
    from safetensors.torch import load_file

    if f.suffix == ".safetensors":
        return load_file(str(f))
    return torch.load(f, map_location="cpu", weights_only=True)


def convert_timm_audiomae(src: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """One-time conversion of the timm AudioMAE port to a transformers ``ViTModel`` directory.

    Parameters
    ----------
    src : path
        timm model directory (``config.json`` + weights) or a weights file (``.safetensors`` or ``.bin``).
    out_dir : path
        Written with ``config.json`` + ``model.safetensors``; load it with ``hf:<out_dir>`` or
        ``get_encoder("audiomae", model_path=out_dir)``.
    """
    model = _timm_audiomae_model(Path(src))
    out = Path(out_dir)
    model.save_pretrained(str(out), safe_serialization=True)
    return out


class AudioMaeEncoder(TransformersEncoder):
    """AudioMAE ViT-B/16 on a 1024-frame x 128-bin Kaldi fbank (10.24 s at 16 kHz), as a ``ViTModel``.

    Patch tokens of each time patch (16 fbank frames = 160 ms) are averaged over the 8 frequency patches.
    """

    min_window_s = 0.1

    def _load(self, model_dir: Path) -> None:
        from transformers import ViTModel

        if _is_timm_dir(model_dir):
            model = _timm_audiomae_model(model_dir)
        else:
            model, info = ViTModel.from_pretrained(
                str(model_dir), local_files_only=True, output_loading_info=True, add_pooling_layer=False
            )
            _check_loading_info(info, str(model_dir), ignore=("pooler.",))
        c = model.config
        size = c.image_size if isinstance(c.image_size, (list, tuple)) else (c.image_size, c.image_size)
        if int(c.num_channels) != 1:
            raise EncoderError(
                f"{model_dir}: a ViT with {c.num_channels} input channels is not an AudioMAE model "
                "(expected num_channels=1 on a (time, mel) fbank)"
            )
        self.model = model
        self._n_fb, self._n_mels = int(size[0]), int(size[1])
        p = c.patch_size if isinstance(c.patch_size, int) else c.patch_size[0]
        self._p = int(p)
        self._t, self._f = self._n_fb // self._p, self._n_mels // self._p
        self.sample_rate = 16000
        self._align = 160 * self._p
        self.frame_rate = self.sample_rate / self._align
        self.max_input_s = self._t * self._align / self.sample_rate  # 10.24 s
        self.dim = int(c.hidden_size)
        self.layer_names = [f"L{i}" for i in range(c.num_hidden_layers + 1)]

    def _forward(self, x):
        import torch

        feats = np.stack([audiomae_features(a, n_frames=self._n_fb, n_mels=self._n_mels) for a in x.numpy()])
        pix = torch.from_numpy(feats).unsqueeze(1)  # [B, 1, time, mel]
        out = self.model(self._to_model(pix), output_hidden_states=True)
        hs = torch.stack(out.hidden_states)[:, :, 1:]  # drop CLS
        n_l, b, _, d = hs.shape
        return hs.reshape(n_l, b, self._t, self._f, d).mean(dim=3)

    def _n_frames(self, n_samples: int) -> int:
        return min(self._t, max(1, math.ceil(_fbank_frames(n_samples) / self._p)))

    def params(self) -> dict:
        return {"dtype": self.dtype, "fbank": "kaldi-128", "norm": [AUDIOSET_MEAN, AUDIOSET_STD]}


# --------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------


def _build(
    cls, name: str, model_id: str, description: str, *, model_path, dtype, revision, device, batch_size
):
    check_choice("dtype", dtype, DTYPES)
    model_dir, commit = resolve_model_dir(model_id, model_path=model_path, revision=revision)
    return cls(
        model_dir,
        name=name,
        model_id=model_id,  # the hub id even when loaded from a local copy; the revision tells copies apart
        commit=commit,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        description=description,
        rebuild_kwargs={"model_path": None if model_path is None else str(model_path), "revision": revision},
    )


def _registered(name: str, cls, model_id: str, sample_rate: int, dim: int, n_layers: int, description: str):
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
        model_path: str | os.PathLike | None = None,
        dtype: DType = "auto",
        revision: str | None = None,
        device: str = "cpu",
        batch_size: int = 8,
    ) -> Encoder:
        return _build(
            cls,
            name,
            model_id,
            description,
            model_path=model_path,
            dtype=dtype,
            revision=revision,
            device=device,
            batch_size=batch_size,
        )

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = (
        f"{description}\n\nKeyword arguments: ``model_path`` (local from_pretrained dir instead of "
        f"``{model_id}``), ``dtype`` ('auto', 'float32', 'bfloat16'), ``revision``, ``device``, ``batch_size``."
    )
    return factory


mert_v1_95m = _registered(
    "mert-v1-95m", MertEncoder, "m-a-p/MERT-v1-95M", 24000, 768, 13,
    "MERT-v1-95M music SSL model (native HubertModel), 13 hidden states, 75 frames/s",
)  # fmt: skip
mert_v1_330m = _registered(
    "mert-v1-330m", MertEncoder, "m-a-p/MERT-v1-330M", 24000, 1024, 25,
    "MERT-v1-330M (native HubertModel, pre-LN), 25 hidden states, 75 frames/s",
)  # fmt: skip
dac_44khz = _registered(
    "dac-44khz", DacEncoder, "descript/dac_44khz", 44100, 1024, 3,
    "Descript Audio Codec 44.1 kHz encoder: last block, latent z, quantised z_q; 86 frames/s",
)  # fmt: skip
encodec_24khz = _registered(
    "encodec-24khz", EncodecEncoder, "facebook/encodec_24khz", 24000, 128, 2,
    "EnCodec 24 kHz encoder: latent and RVQ-quantised latent (24 kbps); 75 frames/s",
)  # fmt: skip
clap_htsat_unfused = _registered(
    "clap-htsat-unfused", ClapEncoder, "laion/clap-htsat-unfused", 48000, 768, 4,
    "LAION CLAP HTSAT audio tower (unfused): stage 3, stage-4 blocks, final norm; ~3.2 frames/s",
)  # fmt: skip
ast = _registered(
    "ast", AstEncoder, "MIT/ast-finetuned-audioset-10-10-0.4593", 16000, 768, 13,
    "Audio Spectrogram Transformer (AudioSet), 13 hidden states, 10 frames/s",
)  # fmt: skip
whisper_base = _registered(
    "whisper-base", WhisperEncoderWrapper, "openai/whisper-base", 16000, 512, 7,
    "Whisper base encoder (log-mel, padded to 30 s, real frames kept), 7 hidden states, 50 frames/s",
)  # fmt: skip
audiomae = _registered(
    "audiomae", AudioMaeEncoder, "gaunernst/vit_base_patch16_1024_128.audiomae_as2m", 16000, 768, 13,
    "AudioMAE ViT-B/16 (AudioSet-2M) on 128-bin Kaldi fbank as a ViTModel, 13 hidden states, 6.25 frames/s",
)  # fmt: skip


_DISPATCH = {
    **{t: MertEncoder for t in _HUBERT_TYPES + _W2V_TYPES},
    "dac": DacEncoder,
    "encodec": EncodecEncoder,
    "clap": ClapEncoder,
    "clap_audio_model": ClapEncoder,
    "audio-spectrogram-transformer": AstEncoder,
    "whisper": WhisperEncoderWrapper,
    "vit": AudioMaeEncoder,
}


def load_hf_encoder(
    path: str | os.PathLike,
    *,
    dtype: DType = "auto",
    device: str = "cpu",
    batch_size: int = 8,
    **kw,
) -> Encoder:
    """Encoder for a local ``from_pretrained`` directory (``--encoder hf:/path/to/model``).

    Dispatches on ``config.json``'s ``model_type``: hubert / wav2vec2 / mert_model -> MERT-style, dac, encodec,
    clap / clap_audio_model, audio-spectrogram-transformer, whisper, vit (and timm AudioMAE dirs) -> AudioMAE.
    """
    check_choice("dtype", dtype, DTYPES)
    unknown = set(kw) - {"model_path", "revision"}
    if unknown:
        raise ConfigError(f"unexpected options for hf: encoders: {', '.join(sorted(unknown))}")
    p = Path(path).expanduser()
    cfg_file = p / "config.json"
    if not cfg_file.is_file():
        raise EncoderError(
            f"{p} is not a model directory (no config.json)",
            hint="pass a directory written by save_pretrained / huggingface-cli download",
        )
    cfg = _read_json(cfg_file)
    mtype = cfg.get("model_type")
    if mtype is None and _is_timm_dir(p):
        cls = AudioMaeEncoder
    elif mtype in _DISPATCH:
        cls = _DISPATCH[mtype]
    else:
        valid = ", ".join(sorted(_DISPATCH))
        raise EncoderError(
            f"{p}: model_type {mtype!r} is not supported by hf: encoders",
            hint=f"supported model_types: {valid} (and timm AudioMAE directories)",
        )
    _, commit = resolve_model_dir(str(p), model_path=p)
    return cls(
        p,
        name=f"hf:{p}",
        model_id=str(p),
        commit=commit,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        description=f"{cls.__name__} loaded from {p}",
    )
