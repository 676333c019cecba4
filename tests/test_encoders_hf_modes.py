"""Run modes of the transformers encoders (``mode=``: eager, compile, int8, auto) on tiny random models.

What a user would notice: the option is accepted where it can work and refused with a clear error where it
cannot, the vectors stay faithful to eager float32, and an int8 index is queried with an int8 encoder
(``mode`` is in the provenance) while ``compile`` (a speed choice) is not imposed on query embedding.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_models import save_tiny_dac, save_tiny_mert  # noqa: E402

from embedstore.encoders import get_encoder  # noqa: E402
from embedstore.encoders.hf import audiomae_vit_config  # noqa: E402
from embedstore.encoders.hf.modes import auto_mode  # noqa: E402
from embedstore.errors import ConfigError  # noqa: E402


@pytest.fixture(autouse=True)
def _offline_single_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def mert_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_mert")
    save_tiny_mert(d, hidden_size=64, intermediate_size=128)
    return d


@pytest.fixture(scope="module")
def dac_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_dac")
    save_tiny_dac(d)
    return d


def _audio(n: int = 6, seconds: float = 1.0, sr: int = 8000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 110.0 * 2 ** (rng.integers(0, 36, size=(n, 1)) / 12)
    x = (
        np.sin(2 * np.pi * f0 * t)
        + 0.3 * np.sin(4 * np.pi * f0 * t)
        + 0.05 * rng.standard_normal((n, t.size))
    )
    return (0.3 * x).astype(np.float32)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_int8_is_faithful_and_recorded_in_provenance(mert_dir):
    x = _audio()
    fp32 = get_encoder(f"hf:{mert_dir}", dtype="float32", mode="eager")
    int8 = get_encoder(f"hf:{mert_dir}", dtype="auto", mode="int8")
    a, b = fp32.embed(x), int8.embed(x)
    assert int8.mode == "int8" and int8.dtype == "float32"  # int8 makes "auto" float32
    assert not np.array_equal(a, b)  # it really runs quantised
    assert _cos(a, b).min() > 0.99
    # neighbours of every window (per layer) are those of fp32
    for la, lb in zip(a, b):
        sa, sb = la @ la.T, lb @ lb.T
        np.fill_diagonal(sa, -np.inf)
        np.fill_diagonal(sb, -np.inf)
        assert (sa.argmax(1) == sb.argmax(1)).all()
    # an int8 index is queried by an int8 encoder: mode is part of params and of the rebuild arguments
    assert int8.provenance()["params"]["mode"] == "int8"
    assert "mode" not in fp32.provenance()["params"]  # eager stores keep their old provenance
    again = get_encoder(f"hf:{mert_dir}", **int8.load_kwargs())
    assert again.mode == "int8"
    np.testing.assert_array_equal(again.embed(x), b)


def test_compile_matches_eager_and_is_not_imposed_on_queries(mert_dir):
    x = _audio(n=2)
    eager = get_encoder(f"hf:{mert_dir}", dtype="float32", mode="eager")
    comp = get_encoder(f"hf:{mert_dir}", dtype="float32", mode="compile")
    assert comp.mode == "compile"
    np.testing.assert_allclose(comp.embed(x), eager.embed(x), rtol=1e-3, atol=1e-4)
    assert comp.provenance()["params"] == eager.provenance()["params"]
    assert "mode" not in comp.load_kwargs()


def test_modes_refused_where_they_cannot_work(mert_dir, dac_dir):
    with pytest.raises(ConfigError, match="mode"):
        get_encoder(f"hf:{mert_dir}", mode="turbo")
    with pytest.raises(ConfigError, match="float32 only"):
        get_encoder(f"hf:{mert_dir}", dtype="bfloat16", mode="int8")
    with pytest.raises(ConfigError, match="compile"):
        get_encoder(f"hf:{dac_dir}", mode="compile")  # DAC's forward calls sub-modules one by one
    # the registered factories take the option too
    with pytest.raises(ConfigError, match="mode"):
        get_encoder("mert-v1-95m", model_path=str(mert_dir), mode="fast")


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    from transformers import ViTModel

    d = tmp_path_factory.mktemp("tiny_audiomae")
    torch.manual_seed(0)
    cfg = audiomae_vit_config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=[128, 32]
    )
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(d)
    return d


def test_auto_mode_is_the_measured_choice_and_keeps_old_indexes_exact(vit_dir, mert_dir):
    x = _audio(n=4, seconds=1.28, sr=16000)
    # AudioMAE: int8 by default (measured fastest and faithful), in float32
    enc = get_encoder(f"hf:{vit_dir}")
    assert (enc.mode, enc.dtype) == ("int8", "float32")
    ref = get_encoder(f"hf:{vit_dir}", dtype="float32", mode="eager")
    assert ref.mode == "eager"  # an explicit dtype (as stored by every index) means eager
    assert _cos(enc.embed(x), ref.embed(x)).min() > 0.99
    # an index built before modes stored only the dtype: it is rebuilt eager, provenance unchanged
    old_kwargs = {"dtype": "float32"}
    assert get_encoder(f"hf:{vit_dir}", **old_kwargs).provenance()["params"] == ref.provenance()["params"]
    # MERT: eager (dtype="auto"'s bfloat16 is its fastest faithful setting where the CPU has it)
    assert get_encoder(f"hf:{mert_dir}").mode == "eager"
    # off the CPU the measured CPU choice does not apply
    assert auto_mode("int8", dtype="auto", device="cuda") == "eager"
    assert auto_mode("int8", dtype="auto", device="cpu") == "int8"


def test_index_command_takes_the_mode_and_stores_it(mert_dir, tmp_path):
    import soundfile as sf
    from typer.testing import CliRunner

    from embedstore.cli import app
    from embedstore.store import Store

    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        sf.write(audio / f"take{i}.wav", (0.1 * rng.standard_normal(8000 * 3)).astype(np.float32), 8000)
    store = tmp_path / "s.lance"
    args = ["index", str(audio), "--store", str(store), "-e", f"hf:{mert_dir}", "--window", "1", "--hop", "1"]
    res = CliRunner().invoke(app, [*args, "--mode", "int8", "--no-progress"])
    assert res.exit_code == 0, res.output
    params = {s.provenance["params"].get("mode") for s in Store(store).spaces()}
    assert params == {"int8"}
    bad = CliRunner().invoke(app, [*args, "--mode", "turbo", "--no-progress"])
    assert bad.exit_code != 0 and "turbo" in bad.output
