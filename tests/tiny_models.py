"""Tiny randomly initialised models of the real architectures, saved with ``save_pretrained`` for the encoder tests
(they load through the same ``hf:`` / ``model_path`` code path as the hub ids)."""

from __future__ import annotations

import torch


def tiny_hubert_config(**kw):
    from transformers import HubertConfig

    base = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=[16, 16, 16],
        conv_stride=[5, 4, 4],
        conv_kernel=[10, 4, 4],
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    base.update(kw)
    return HubertConfig(**base)


def save_tiny_mert(d, **kw):
    from transformers import HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    HubertModel(tiny_hubert_config(**kw)).save_pretrained(d)
    Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=True).save_pretrained(d)


def save_tiny_dac(d):
    from transformers import DacConfig, DacModel

    torch.manual_seed(0)
    c = DacConfig(
        encoder_hidden_size=4,
        downsampling_ratios=[2, 4],
        decoder_hidden_size=8,
        n_codebooks=2,
        codebook_size=16,
        codebook_dim=4,
        hidden_size=16,
        upsampling_ratios=[4, 2],
        sampling_rate=8000,
    )
    DacModel(c).save_pretrained(d)
