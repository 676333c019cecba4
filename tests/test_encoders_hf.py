"""transformers-backed encoders, tested on TINY randomly initialised models of the real architectures.

Each tiny model is written with ``save_pretrained`` (plus its feature extractor where the wrapper uses one) and
loaded through the paths users take: ``get_encoder(<registry name>, model_path=dir)`` and
``get_encoder("hf:" + dir)``. No network: ``HF_HUB_OFFLINE=1`` throughout.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_models import save_tiny_dac, save_tiny_mert, tiny_hubert_config  # noqa: E402

from embedstore.encoders import get_encoder  # noqa: E402
from embedstore.encoders.hf import (  # noqa: E402
    _split_even,
    audiomae_features,
    audiomae_vit_config,
    convert_timm_audiomae,
    convert_timm_audiomae_state_dict,
    kaldi_fbank,
    resolve_dtype,
)
from embedstore.errors import AudioError, ConfigError, EncoderError  # noqa: E402


@pytest.fixture(autouse=True)
def _offline_single_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------------------------
# Tiny models
# ---------------------------------------------------------------------------------------------------------------


def _encodec(d):
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    c = EncodecConfig(
        num_filters=4,
        upsampling_ratios=[4, 2],
        hidden_size=8,
        codebook_size=16,
        codebook_dim=8,
        num_lstm_layers=1,
        sampling_rate=8000,
        target_bandwidths=[16.0, 32.0],
    )
    m = EncodecModel(c)
    for (
        layer
    ) in m.quantizer.layers:  # codebooks start at zero before training; give them latent-sized content
        layer.codebook.embed.normal_(std=0.05)
    m.save_pretrained(d)


def _clap(d):
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapTextConfig

    torch.manual_seed(0)
    ac = ClapAudioConfig(
        patch_embeds_hidden_size=8, depths=[1, 1, 1, 2], num_attention_heads=[1, 1, 1, 2], hidden_size=64
    )
    tc = ClapTextConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=1, intermediate_size=16, vocab_size=100
    )
    cfg = ClapConfig(text_config=tc.to_dict(), audio_config=ac.to_dict(), projection_dim=16)
    ClapModel(cfg).save_pretrained(d)  # the full CLAP checkpoint, as on the hub
    ClapFeatureExtractor(truncation="rand_trunc").save_pretrained(d)


def _ast(d):
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    torch.manual_seed(0)
    ASTModel(
        ASTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    ).save_pretrained(d)
    with warnings.catch_warnings():  # "mel filter has all zero values" (inherent to 128 Kaldi bins)
        warnings.simplefilter("ignore", UserWarning)
        ASTFeatureExtractor().save_pretrained(d)


def _whisper(d):
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    torch.manual_seed(0)
    c = WhisperConfig(
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        vocab_size=100,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        num_mel_bins=80,
        max_source_positions=1500,
    )
    WhisperForConditionalGeneration(c).save_pretrained(d)  # full model, as on the hub
    WhisperFeatureExtractor(feature_size=80).save_pretrained(d)


def _audiomae(d):
    from transformers import ViTModel

    torch.manual_seed(0)
    c = audiomae_vit_config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    ViTModel(c, add_pooling_layer=False).save_pretrained(d)


# name -> (builder, sample rate of the tiny model, n_layers, dim, frames for a 1 s window)
MODELS = {
    "mert-v1-95m": (save_tiny_mert, 8000, 3, 32, None),  # conv arithmetic: see _hubert_frames
    "dac-44khz": (save_tiny_dac, 8000, 3, 16, 1000),
    "encodec-24khz": (_encodec, 8000, 2, 8, 1000),
    "clap-htsat-unfused": (_clap, 48000, 4, 64, 4),
    "ast": (_ast, 16000, 3, 16, 10),
    "whisper-base": (_whisper, 16000, 3, 16, 50),
    "audiomae": (_audiomae, 16000, 3, 16, 7),
}


def _hubert_frames(n, kernels=(10, 4, 4), strides=(5, 4, 4)):
    for k, s in zip(kernels, strides):
        n = (n - k) // s + 1
    return n


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    dirs = {}
    for name, (build, *_rest) in MODELS.items():
        d = tmp_path_factory.mktemp(name)
        build(str(d))
        dirs[name] = d
    return dirs


@pytest.fixture(scope="module")
def encoders(model_dirs):
    torch.set_num_threads(1)
    return {name: get_encoder(name, model_path=str(d), dtype="float32") for name, d in model_dirs.items()}


def _audio(sr, seconds, n=3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = [
        0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) * np.exp(-t) + 0.02 * rng.standard_normal(t.size)
        for i in range(n)
    ]
    return np.stack(x).astype(np.float32)


def _cos(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


# ---------------------------------------------------------------------------------------------------------------
# Every model class: shapes, layers, determinism, batch independence, sensitivity, hf: path, bf16, provenance
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_every_layer_and_determinism(name, encoders):
    enc = encoders[name]
    _, sr, n_layers, dim, n_frames = MODELS[name]
    if name == "mert-v1-95m":
        n_frames = _hubert_frames(sr)
    assert enc.sample_rate == sr and enc.dim == dim and enc.n_layers == n_layers == len(enc.layer_names)
    x = _audio(sr, 1.0)
    f = enc.frames(x)
    e = enc.embed(x)
    assert f.dtype == np.float32 and e.dtype == np.float32
    assert f.shape == (n_layers, 3, n_frames, dim)
    assert e.shape == (n_layers, 3, dim)
    assert np.isfinite(f).all()
    np.testing.assert_allclose(e, f.mean(axis=2), rtol=1e-5, atol=1e-6)
    # every layer is a distinct hidden state (no layer silently duplicated or left empty)
    for i in range(n_layers):
        assert np.abs(e[i]).max() > 0
        for j in range(i + 1, n_layers):
            assert not np.allclose(e[i], e[j]), (enc.layer_names[i], enc.layer_names[j])
    np.testing.assert_array_equal(enc.frames(x), f)  # deterministic


@pytest.mark.parametrize("name", list(MODELS))
def test_batch_independence_and_sensitivity(name, encoders):
    enc = encoders[name]
    sr = MODELS[name][1]
    x = _audio(sr, 1.0)
    e = enc.embed(x)
    alone = enc.embed(x[1:2])
    np.testing.assert_allclose(alone[:, 0], e[:, 1], rtol=1e-3, atol=1e-4 * (1 + np.abs(e).max()))
    # different inputs give different features in every layer (frames clearly, time-means at least measurably:
    # a random tiny codec's time-mean is dominated by its biases)
    f = enc.frames(x)
    for layer in range(enc.n_layers):
        for got, tol in ((f[layer, 0], 1e-3), (e[layer, 0], 1e-4)):
            other = f[layer, 2] if got.ndim == 2 else e[layer, 2]
            rel = np.linalg.norm(got - other) / max(np.linalg.norm(got), np.linalg.norm(other))
            assert rel > tol, (enc.layer_names[layer], rel)


@pytest.mark.parametrize("name", list(MODELS))
def test_hf_path_matches_registry_path(name, model_dirs, encoders):
    sr = MODELS[name][1]
    x = _audio(sr, 1.0, n=2)
    via_hf = get_encoder("hf:" + str(model_dirs[name]), dtype="float32")
    assert type(via_hf) is type(encoders[name])
    assert via_hf.layer_names == encoders[name].layer_names
    np.testing.assert_allclose(via_hf.embed(x), encoders[name].embed(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_bfloat16_close_to_float32(name, model_dirs, encoders):
    sr = MODELS[name][1]
    x = _audio(sr, 1.0, n=2)
    bf = get_encoder(name, model_path=str(model_dirs[name]), dtype="bfloat16")
    assert bf.params()["dtype"] == "bfloat16"
    cos = _cos(bf.embed(x), encoders[name].embed(x))
    assert cos.min() > 0.995, dict(zip(bf.layer_names, cos.min(axis=1)))


@pytest.mark.parametrize("name", list(MODELS))
def test_provenance_identifies_model_and_weights(name, model_dirs, encoders):
    enc = encoders[name]
    p = enc.provenance()
    digest = hashlib.sha256((model_dirs[name] / "model.safetensors").read_bytes()).hexdigest()[:12]
    assert p["revision"] == digest
    assert p["model_id"] != "" and "/" in p["model_id"]  # the hub id, not the local copy's path
    assert p["params"]["dtype"] == "float32"
    assert p["layer_names"] == enc.layer_names and p["dim"] == enc.dim and p["sample_rate"] == enc.sample_rate
    # what the store keeps is enough to rebuild the same encoder for queries
    again = get_encoder(p["encoder"], **p["load_kwargs"])
    assert again.provenance() == p
    x = _audio(enc.sample_rate, 0.5, n=1)
    np.testing.assert_array_equal(again.embed(x), enc.embed(x))


# ---------------------------------------------------------------------------------------------------------------
# MERT
# ---------------------------------------------------------------------------------------------------------------


def _as_mert_checkpoint(d, **extra):
    """Rewrite a saved HubertModel dir the way the MERT hub repos look (remote-code config, legacy weight norm)."""
    from safetensors.torch import load_file, save_file

    sd = load_file(str(d / "model.safetensors"))
    legacy = {
        k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): v
        for k, v in sd.items()
    }
    save_file(legacy, str(d / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(
        model_type="mert_model",
        architectures=["MERTModel"],
        auto_map={"AutoModel": "modeling_MERT.MERTModel", "AutoConfig": "configuration_MERT.MERTConfig"},
        feature_extractor_cqt=False,
        deepnorm=False,
        attention_relax=32.0,
        sample_rate=8000,
    )
    cfg.update(extra)
    (d / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("stable", [False, True], ids=["95m-postLN", "330m-preLN"])
def test_mert_style_checkpoint_loads_natively_with_identical_outputs(tmp_path, stable):
    from transformers import HubertModel

    torch.manual_seed(1)
    kw = dict(do_stable_layer_norm=True, feat_extract_norm="layer") if stable else {}
    ref = HubertModel(tiny_hubert_config(**kw)).eval()
    ref.save_pretrained(str(tmp_path))
    _as_mert_checkpoint(tmp_path)
    enc = get_encoder("mert-v1-95m", model_path=str(tmp_path), dtype="float32")
    assert enc.sample_rate == 8000 and enc.frame_rate == 8000 / 80
    x = _audio(8000, 0.5, n=2)
    xn = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-7)
    with torch.inference_mode():
        hs = ref(torch.from_numpy(xn), output_hidden_states=True).hidden_states
    want = torch.stack(hs).numpy()
    np.testing.assert_allclose(enc.frames(x), want, rtol=1e-4, atol=1e-5)


def test_wav2vec2_directory_loads_as_mert_style_encoder(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(2)
    kw = tiny_hubert_config().to_dict()
    kw = {k: kw[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")}
    c = Wav2Vec2Config(
        **kw,
        conv_dim=[16, 16, 16],
        conv_stride=[5, 4, 4],
        conv_kernel=[10, 4, 4],
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    Wav2Vec2Model(c).save_pretrained(str(tmp_path))
    enc = get_encoder("hf:" + str(tmp_path), dtype="float32")
    assert enc.sample_rate == 16000 and enc.layer_names == ["L0", "L1", "L2"]
    f = enc.frames(_audio(16000, 0.5, n=2))
    assert f.shape == (3, 2, _hubert_frames(8000), 32) and np.isfinite(f).all()


def test_mert_input_normalisation_makes_it_gain_invariant(encoders):
    enc = encoders["mert-v1-95m"]
    x = _audio(8000, 1.0, n=1)
    np.testing.assert_allclose(enc.embed(0.25 * x), enc.embed(x), rtol=1e-3, atol=1e-4)


def test_mert_unsupported_flags_are_refused(tmp_path):
    from transformers import HubertModel

    HubertModel(tiny_hubert_config()).save_pretrained(str(tmp_path))
    _as_mert_checkpoint(tmp_path, deepnorm=True)
    with pytest.raises(EncoderError, match="deepnorm"):
        get_encoder("mert-v1-330m", model_path=str(tmp_path))


def test_checkpoint_with_missing_weights_is_refused(tmp_path, model_dirs):
    """A checkpoint that does not fill the model must fail instead of running with random weights."""
    from safetensors.torch import load_file, save_file

    src = model_dirs["dac-44khz"]
    (tmp_path / "config.json").write_text((src / "config.json").read_text())
    sd = load_file(str(src / "model.safetensors"))
    save_file(
        {k: v for k, v in sd.items() if "encoder.block.1" not in k}, str(tmp_path / "model.safetensors")
    )
    with pytest.raises(EncoderError, match="missing"):
        get_encoder("dac-44khz", model_path=str(tmp_path))


# ---------------------------------------------------------------------------------------------------------------
# CLAP, AST, Whisper, AudioMAE specifics
# ---------------------------------------------------------------------------------------------------------------


def test_clap_frames_unfold_time_like_htsat(encoders):
    """The last layer ("norm") must equal HTSAT's own time-unfolded output averaged over frequency."""
    enc = encoders["clap-htsat-unfused"]
    x = _audio(48000, 10.0, n=1)
    f = enc.frames(x)
    assert f.shape[2] == 32
    feats = enc.fe([x[0]], sampling_rate=48000, return_tensors="pt")
    with torch.inference_mode():
        out = enc.model(input_features=feats["input_features"])
    want = out.last_hidden_state.mean(dim=2).transpose(1, 2).numpy()  # [B, C, bins, T] -> [B, T, C]
    np.testing.assert_allclose(f[-1], want, rtol=1e-4, atol=1e-5)


def test_whisper_keeps_only_real_frames_and_chunks_long_windows(encoders):
    enc = encoders["whisper-base"]
    f = enc.frames(_audio(16000, 2.0, n=1))
    assert f.shape[2] == 100  # 2 s at 50 frames/s, not the 1500 of the padded 30 s
    long = enc.frames(_audio(16000, 33.0, n=1))
    assert long.shape[2] == math.ceil(33.0 * 50)


def test_ast_chunks_windows_longer_than_its_context(encoders):
    enc = encoders["ast"]
    assert enc.max_input_s == pytest.approx(10.1)
    f = enc.frames(_audio(16000, 12.0, n=1))
    assert f.shape[2] == 120  # two chunks of 6 s, 10 frames/s


def test_kaldi_fbank_matches_transformers_reference():
    from transformers import ASTFeatureExtractor

    x = _audio(16000, 3.0, n=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ASTFeatureExtractor()(x, sampling_rate=16000, return_tensors="np")["input_values"][0]
    ours = audiomae_features(x - x.mean())
    assert ours.shape == ref.shape == (1024, 128)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert kaldi_fbank(x).shape == (1 + (len(x) - 400) // 160, 128)


def _timm_vit_forward(sd, x, depth, heads, eps=1e-6):
    """Reference forward of a timm-named ViT state dict (timm's VisionTransformer, written out)."""
    import torch.nn.functional as F

    h = (
        F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=16)
        .flatten(2)
        .transpose(1, 2)
    )
    h = torch.cat([sd["cls_token"].expand(h.shape[0], -1, -1), h], dim=1) + sd["pos_embed"]
    states = [h]
    d = h.shape[-1]
    for i in range(depth):
        p = f"blocks.{i}."
        y = F.layer_norm(h, (d,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps)
        qkv = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
        q, k, v = qkv.reshape(h.shape[0], -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(h.shape)
        h = h + F.linear(a, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        y = F.layer_norm(h, (d,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps)
        y = F.linear(
            F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])),
            sd[p + "mlp.fc2.weight"],
            sd[p + "mlp.fc2.bias"],
        )
        h = h + y
        states.append(h)
    return states


def test_timm_audiomae_conversion_reproduces_timm_forward(tmp_path):
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    d, depth, heads, n_patch = 128, 2, 2, 64 * 8  # 64-d heads, as in timm ViTs (heads are not in the weights)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {
        "cls_token": r(1, 1, d),
        "pos_embed": r(1, n_patch + 1, d),
        "patch_embed.proj.weight": r(d, 1, 16, 16),
        "patch_embed.proj.bias": r(d),
        "fc_norm.weight": 1 + r(d),
        "fc_norm.bias": r(d),
    }
    for i in range(depth):
        p = f"blocks.{i}."
        sd.update(
            {
                p + "norm1.weight": 1 + r(d),
                p + "norm1.bias": r(d),
                p + "attn.qkv.weight": r(3 * d, d),
                p + "attn.qkv.bias": r(3 * d),
                p + "attn.proj.weight": r(d, d),
                p + "attn.proj.bias": r(d),
                p + "norm2.weight": 1 + r(d),
                p + "norm2.bias": r(d),
                p + "mlp.fc1.weight": r(4 * d, d),
                p + "mlp.fc1.bias": r(4 * d),
                p + "mlp.fc2.weight": r(d, 4 * d),
                p + "mlp.fc2.bias": r(d),
            }
        )
    converted = convert_timm_audiomae_state_dict(sd)
    assert "encoder.layer.1.attention.attention.value.bias" in converted
    with pytest.raises(EncoderError, match="unexpected key"):
        convert_timm_audiomae_state_dict({**sd, "blocks.0.ls1.gamma": r(d)})

    # a timm-format directory (as in the hub cache) and the one-time converted copy give the same encoder
    timm_dir = tmp_path / "timm"
    timm_dir.mkdir()
    (timm_dir / "config.json").write_text(
        json.dumps({"architecture": "vit_base_patch16_224", "global_pool": "avg"})
    )
    save_file(sd, str(timm_dir / "model.safetensors"))
    out = convert_timm_audiomae(timm_dir, tmp_path / "vit")
    assert json.loads((out / "config.json").read_text())["model_type"] == "vit"

    x = _audio(16000, 10.24, n=1)
    enc_timm = get_encoder("audiomae", model_path=str(timm_dir), dtype="float32")
    enc_vit = get_encoder("hf:" + str(out), dtype="float32")
    f = enc_timm.frames(x)
    np.testing.assert_allclose(enc_vit.frames(x), f, rtol=1e-5, atol=1e-6)

    pix = torch.from_numpy(audiomae_features(x[0]))[None, None]
    with torch.inference_mode():
        states = _timm_vit_forward(sd, pix, depth, heads)
    want = torch.stack(states)[:, :, 1:].reshape(depth + 1, 1, 64, 8, d).mean(3).numpy()
    np.testing.assert_allclose(f, want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Loading, offline behaviour, validation
# ---------------------------------------------------------------------------------------------------------------


def test_missing_model_fails_fast_offline_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(EncoderError) as err:
        get_encoder("mert-v1-95m")
    assert "m-a-p/MERT-v1-95M" in str(err.value)
    assert "huggingface-cli download m-a-p/MERT-v1-95M" in err.value.hint and "hf:" in err.value.hint


def test_hub_cache_snapshot_is_used_and_its_commit_is_the_revision(tmp_path, monkeypatch, model_dirs):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--m-a-p--MERT-v1-95M"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in model_dirs["mert-v1-95m"].iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = get_encoder("mert-v1-95m", dtype="float32")
    assert enc.provenance()["model_id"] == "m-a-p/MERT-v1-95M"
    assert enc.provenance()["revision"] == commit


def test_hf_spec_errors(tmp_path):
    with pytest.raises(EncoderError, match="no config.json"):
        get_encoder("hf:" + str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(EncoderError) as err:
        get_encoder("hf:" + str(tmp_path))
    assert "hubert" in err.value.hint and "whisper" in err.value.hint


def test_invalid_options_and_windows(encoders, model_dirs):
    with pytest.raises(ConfigError, match="dtype"):
        get_encoder("ast", model_path=str(model_dirs["ast"]), dtype="float16")
    enc = encoders["ast"]
    with pytest.raises(ConfigError, match="n_windows, n_samples"):
        enc.frames(np.zeros(16000, dtype=np.float32))
    bad = _audio(16000, 1.0, n=1)
    bad[0, 5] = np.nan
    with pytest.raises(AudioError) as err:
        enc.embed(bad)
    assert err.value.reason == "non_finite"
    with pytest.raises(ConfigError, match="too short"):
        enc.frames(np.zeros((1, 100), dtype=np.float32))


def test_dtype_auto_resolves_to_a_concrete_dtype():
    assert resolve_dtype("auto") in ("float32", "bfloat16")
    assert resolve_dtype("float32") == "float32"
    with pytest.raises(ConfigError):
        resolve_dtype("half")


def test_split_even_pieces_cover_the_window_on_the_hop_grid():
    pieces = _split_even(1000, 300, align=64)
    assert pieces[0][0] == 0 and pieces[-1][1] == 1000
    assert all(b - a <= 300 for a, b in pieces)
    assert all(a % 64 == 0 for a, _ in pieces)
    assert all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))
    assert _split_even(100, None) == [(0, 100)]
