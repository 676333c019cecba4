"""Finding and reading a ``transformers`` checkpoint: where it is, which dtype to run it in, its weights.

Task
----
Everything a model family needs before its forward pass, and nothing about any one family: the local directory
of a hub id or ``model_path`` (never downloading unless ``HF_HUB_OFFLINE=0``), the revision for provenance,
``dtype="auto"`` resolution, reading state dicts (safetensors, sharded, or ``.bin`` weights-only), building a model
from in-memory tensors with missing weights refused, and silencing transformers' load reports.

torch, transformers, safetensors and huggingface_hub are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from embedstore.errors import EncoderError, check_choice

DTYPES = ("auto", "float32", "bfloat16")
DType = Literal["auto", "float32", "bfloat16"]

_MISSING_HINT = (
    "download it with `huggingface-cli download {model_id}` on a machine with internet, "
    "or pass --encoder hf:/local/dir"
)
_SNAPSHOT_RE = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bfloat16 matrix instructions (AVX512-BF16 or AMX-BF16).

    Without them PyTorch emulates bf16 matmuls and bf16 is *slower* than fp32 (see ``bench/bench_encoders.py``).

    Returns
    -------
    bool
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

    The rule (measured in ``bench/results/encoders.json`` on an AVX2 CPU and ``bench/results/encoder_modes.md``
    on an AVX512-BF16 one): bf16 keeps per-layer cosine to fp32 above 0.999 on MERT- and AudioMAE-shaped models;
    with native bf16 instructions it is 1.5-2.6x faster than fp32, without them several times slower.

    Parameters
    ----------
    dtype : {"auto", "float32", "bfloat16"}
    device : str
        torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).

    Returns
    -------
    str
        ``"float32"`` or ``"bfloat16"``.
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


def resolve_model_dir(
    model_id: str, *, model_path: str | os.PathLike[str] | None = None, revision: str | None = None
) -> tuple[Path, str | None]:
    """Local directory holding the model, and the hub commit hash when known.

    ``model_path`` wins; otherwise the hub cache is used (``local_files_only`` unless ``HF_HUB_OFFLINE=0``).

    Parameters
    ----------
    model_id : str
        Hub id, e.g. ``"m-a-p/MERT-v1-95M"``.
    model_path : path, optional
        A local ``from_pretrained`` directory (must hold ``config.json``).
    revision : str, optional
        Hub revision (branch, tag or commit).

    Returns
    -------
    (Path, str or None)
        The directory and the 40-hex commit of a hub cache snapshot (``None`` outside the cache).

    Raises
    ------
    EncoderError
        ``model_path`` is not a model directory, or the model is not available offline.
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
    """First ``n_hex`` hex digits of the sha256 of the weights file (``""`` when there is none).

    Parameters
    ----------
    model_dir : Path
    n_hex : int

    Returns
    -------
    str
    """
    f = _weights_file(Path(model_dir))
    if f is None:
        return ""
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n_hex]


def read_weights_file(f: Path) -> dict[str, Any]:
    """Tensors of one weights file: ``.safetensors``, or a ``.bin`` read with ``torch.load(weights_only=True)``.

    Parameters
    ----------
    f : Path

    Returns
    -------
    dict of str to torch.Tensor
    """
    import torch
    from safetensors.torch import load_file

    if Path(f).suffix == ".safetensors":
        return dict(load_file(str(f)))
    return dict(torch.load(f, map_location="cpu", weights_only=True))


def read_state_dict(model_dir: Path) -> dict[str, Any]:
    """All tensors of a checkpoint directory (safetensors, sharded safetensors, or ``.bin`` read weights-only).

    Parameters
    ----------
    model_dir : Path

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    EncoderError
        No weights file, or a ``.bin`` that cannot be read weights-only.
    """
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    if (model_dir / "model.safetensors").is_file():
        return dict(load_file(str(model_dir / "model.safetensors")))
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        sd: dict[str, Any] = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            sd.update(load_file(str(model_dir / shard)))
        return sd
    if (model_dir / "pytorch_model.bin").is_file():
        try:
            return read_weights_file(model_dir / "pytorch_model.bin")
        except Exception as e:  # noqa: BLE001
            raise EncoderError(f"could not read {model_dir / 'pytorch_model.bin'} weights-only: {e}") from e
    raise EncoderError(f"no weights (model.safetensors / pytorch_model.bin) in {model_dir}")


def check_loading_info(info: dict[str, Any], where: str, ignore: tuple[str, ...] = ()) -> None:
    """Refuse a model whose checkpoint lacks weights (it would run with random ones).

    Parameters
    ----------
    info : dict
        ``from_pretrained(..., output_loading_info=True)``'s report.
    where : str
        The checkpoint, for the message.
    ignore : tuple of str
        Missing keys containing any of these substrings are allowed (e.g. training-only parameters).

    Raises
    ------
    EncoderError
    """
    missing = [k for k in info.get("missing_keys", []) if not any(s in k for s in ignore)]
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise EncoderError(
            f"{where}: {len(missing)} weights missing from the checkpoint (e.g. {shown}); "
            "the model would run with random weights",
            hint="check that the directory holds the model the encoder expects",
        )


def from_pretrained_dir(cls: Any, model_dir: Path, ignore: tuple[str, ...] = (), **kw: Any) -> Any:
    """``cls.from_pretrained(model_dir)`` from local files only, with missing weights refused.

    Parameters
    ----------
    cls : transformers ``PreTrainedModel`` subclass
    model_dir : Path
    ignore : tuple of str
        Missing keys allowed (see :func:`check_loading_info`).
    **kw
        Passed to ``from_pretrained`` (e.g. ``config=``, ``add_pooling_layer=False``).

    Returns
    -------
    transformers.PreTrainedModel
    """
    model, info = cls.from_pretrained(str(model_dir), local_files_only=True, output_loading_info=True, **kw)
    check_loading_info(info, str(model_dir), ignore=ignore)
    return model


def from_state_dict(
    cls: Any,
    config: Any,
    state_dict: dict[str, Any],
    where: str,
    prefixes: tuple[str, ...] = ("",),
    **kw: Any,
) -> Any:
    """``cls.from_pretrained`` on in-memory tensors (the tensors under the first matching key prefix).

    Going through ``from_pretrained`` applies transformers' checkpoint-name conversions; missing weights are
    refused (:func:`check_loading_info`).

    Parameters
    ----------
    cls : transformers ``PreTrainedModel`` subclass
    config : transformers ``PretrainedConfig``
    state_dict : dict of str to torch.Tensor
    where : str
        The checkpoint, for messages.
    prefixes : tuple of str
        Key prefixes tried in order; the first one with tensors is stripped and used.
    **kw
        Passed to ``from_pretrained``.

    Returns
    -------
    transformers.PreTrainedModel
    """
    for p in prefixes:
        sub = {k[len(p) :]: v for k, v in state_dict.items() if k.startswith(p)}
        if sub:
            break
    else:
        raise EncoderError(f"{where}: no weights with prefix {' or '.join(repr(p) for p in prefixes)}")
    model, info = cls.from_pretrained(None, config=config, state_dict=sub, output_loading_info=True, **kw)
    check_loading_info(info, where)
    return model


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path`` (``{}`` when the file does not exist).

    Raises
    ------
    EncoderError
        The file is not valid JSON.
    """
    try:
        out: dict[str, Any] = json.loads(Path(path).read_text())
        return out
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise EncoderError(f"{path} is not valid JSON: {e}") from e


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
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
