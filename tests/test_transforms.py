"""The numpy space transform reads a saved projection head and maps vectors exactly like the torch head."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedstore.errors import ConfigError, ProvenanceError, StoreError
from embedstore.transforms import ProjectionHeadTransform, source_setup_of, transform_for_provenance
from embedstore.utils import sha256_file


def _saved_projection(tmp_path, kind: str, *, in_dim: int = 24, out_dim: int = 4, seed: int = 0):
    import torch

    from embedstore.projections.heads import ProjectionHead
    from embedstore.projections.persist import Projection

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = ProjectionHead(in_dim, out_dim, kind=kind, hidden_dim=16, dropout=0.3)
    head.set_standardisation(rng.normal(2.0, 3.0, size=(50, in_dim)))
    proj = Projection(head=head, train_config={"loss": "supcon"}, label={"column": "piece_id"})
    out = proj.save(tmp_path / f"proj-{kind}-{seed}")
    return proj, out


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_numpy_transform_equals_the_torch_head(tmp_path, kind):
    proj, path = _saved_projection(tmp_path, kind)
    t = ProjectionHeadTransform.load(path)
    assert (t.in_dim, t.out_dim, t.kind) == (24, 4, kind)
    X = np.random.default_rng(1).normal(1.0, 4.0, size=(200, 24)).astype(np.float32)
    got = t.apply(X)
    assert got.dtype == np.float32 and got.shape == (200, 4)
    np.testing.assert_allclose(got, proj.transform(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ConfigError, match="dim 24"):
        t.apply(X[:, :10])


def _provenance(path) -> dict:
    return {
        "kind": "projection",
        "encoder": "chroma",
        "source_setup_key": "chroma-w4-h2",
        "source_space_id": "chroma-w4-h2.L0.recording-mean",
        "projection": {"name": "p", "path": str(path), "sha256": sha256_file(path / "model.safetensors")},
    }


def test_transform_is_read_from_provenance_and_its_sha256_checked(tmp_path):
    proj, path = _saved_projection(tmp_path, "linear")
    prov = _provenance(path)
    assert transform_for_provenance({"encoder": "chroma"}) is None
    assert source_setup_of({"encoder": "chroma"}) is None
    assert source_setup_of(prov) == "chroma-w4-h2"
    X = np.random.default_rng(2).normal(size=(5, 24)).astype(np.float32)
    t = transform_for_provenance(prov, space_id="chroma-w4-h2--p.L0.recording-mean")
    assert t is not None
    np.testing.assert_allclose(t.apply(X), proj.transform(X), rtol=1e-5, atol=1e-6)
    # other weights saved in the same folder: refused, never silently applied
    _, other = _saved_projection(tmp_path, "linear", seed=5)
    shutil.copy(other / "model.safetensors", path / "model.safetensors")
    with pytest.raises(ProvenanceError, match="changed since") as e:
        transform_for_provenance(prov, space_id="chroma-w4-h2--p.L0.recording-mean")
    assert "embedstore project" in (e.value.hint or "")
    shutil.rmtree(path)
    with pytest.raises(StoreError, match="missing") as e:
        transform_for_provenance(prov)
    assert "embedstore project" in (e.value.hint or "")


def test_a_folder_that_is_not_a_projection_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not a saved projection"):
        ProjectionHeadTransform.load(tmp_path)
    _, path = _saved_projection(tmp_path, "mlp")
    cfg = json.loads((path / "config.json").read_text())
    cfg["head"]["out_dim"] = 7
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="config says"):
        ProjectionHeadTransform.load(path)


def test_searching_a_projected_space_with_a_file_needs_no_torch(chroma_store, tmp_path):
    """A query file on a projected space is embedded with the source setup and mapped by the numpy transform."""
    from embedstore.projections.persist import write_projection
    from embedstore.store import Store

    dst = tmp_path / "store.lance"
    shutil.copytree(chroma_store.uri, dst)
    st = Store(dst, create=False)
    source = st.find_space(encoder="chroma", level="recording")
    proj, path = _saved_projection(tmp_path, "mlp")
    proj.input_provenance = {**source.provenance, "space_id": source.space_id}
    write_projection(st, proj, name="rnd", path=path, source=source)
    query = st.recordings().sort_values("file_name").iloc[0]
    import soundfile as sf

    x, sr = sf.read(query["path"], dtype="float32")
    qfile = tmp_path / "same_audio_other_bytes.wav"
    sf.write(qfile, x, sr, subtype="FLOAT")
    code = textwrap.dedent(
        f"""
        import json, sys
        from embedstore.search import search
        res = search({str(dst)!r}, query_path={str(qfile)!r}, encoder="chroma-w4-h2--rnd", k=2, backend="exact")
        heavy = [m for m in ("torch", "embedstore.projections", "embedstore.pipeline") if m in sys.modules]
        print(json.dumps({{"heavy": heavy, "hits": [[h.recording_id, h.score] for h in res.hits]}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["heavy"] == []
    assert res["hits"][0][0] == query["recording_id"] and res["hits"][0][1] > 0.999
