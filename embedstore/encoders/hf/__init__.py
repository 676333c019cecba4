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
- ``mode=`` (``"eager"``, ``"compile"``, ``"int8"``, ``"auto"``) chooses how the model runs
  (:mod:`embedstore.encoders.hf.modes`; measured in ``bench/results/encoder_modes.md``). ``"int8"`` changes the
  vectors slightly and is part of ``params()``; ``"compile"`` does not change them and is not stored.
- ``provenance()["revision"]`` is the hub commit hash when known (a cache snapshot), else the first 12 hex
  digits of the sha256 of the weights file.

Modules
-------
``loading`` (find the checkpoint, dtype, weights), ``modes`` (eager / compile / int8), ``encoder``
(:class:`TransformersEncoder`, the shared machinery, and the registration helper), ``fbank`` (Kaldi fbank in
numpy), one module per family (``mert``, ``dac``, ``encodec``, ``clap``, ``spectrogram_transformer``,
``whisper``, ``audiomae`` with the timm converter) and ``dispatch`` (``hf:/dir`` by ``model_type``). Importing
this package registers every family.

"""

from __future__ import annotations

# importing the family modules registers their encoders
from embedstore.encoders.base import check_windows, split_even
from embedstore.encoders.hf.audiomae import (
    AudioMaeEncoder,
    audiomae_vit_config,
    convert_timm_audiomae,
    convert_timm_audiomae_state_dict,
)
from embedstore.encoders.hf.clap import ClapEncoder
from embedstore.encoders.hf.dac import DacEncoder
from embedstore.encoders.hf.dispatch import load_hf_encoder
from embedstore.encoders.hf.encodec import EncodecEncoder
from embedstore.encoders.hf.encoder import TransformersEncoder
from embedstore.encoders.hf.fbank import AUDIOSET_MEAN, AUDIOSET_STD, audiomae_features, kaldi_fbank
from embedstore.encoders.hf.loading import (
    DTYPES,
    DType,
    cpu_has_fast_bf16,
    read_state_dict,
    resolve_dtype,
    resolve_model_dir,
    weights_sha256,
)
from embedstore.encoders.hf.mert import MertEncoder
from embedstore.encoders.hf.spectrogram_transformer import AstEncoder
from embedstore.encoders.hf.whisper import WhisperEncoderWrapper

#: Former private name, kept for ``from embedstore.encoders.hf import _split_even`` (wheel encoders, tests).
_split_even = split_even

__all__ = [
    "AUDIOSET_MEAN",
    "AUDIOSET_STD",
    "DTYPES",
    "AstEncoder",
    "AudioMaeEncoder",
    "ClapEncoder",
    "DType",
    "DacEncoder",
    "EncodecEncoder",
    "MertEncoder",
    "TransformersEncoder",
    "WhisperEncoderWrapper",
    "audiomae_features",
    "audiomae_vit_config",
    "check_windows",
    "convert_timm_audiomae",
    "convert_timm_audiomae_state_dict",
    "cpu_has_fast_bf16",
    "kaldi_fbank",
    "load_hf_encoder",
    "read_state_dict",
    "resolve_dtype",
    "resolve_model_dir",
    "split_even",
    "weights_sha256",
]
