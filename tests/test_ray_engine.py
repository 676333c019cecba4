"""The Ray engine (`index --engine ray`) on a 2-CPU local Ray cluster gives the store the local engine gives.

One Ray session for the module (starting Ray costs ~10 s); skipped with the reason when the ``ray`` extra is absent.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from embedstore.pipeline import index_paths
from embedstore.store import Store

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'embedstore[ray]')")


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, object_store_memory=256 * 2**20, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def collection(synth_collection, tmp_path_factory):
    """The synthetic collection plus bad files and one duplicate (same bytes, another name)."""
    from embedstore.synth import write_bad_files

    d = tmp_path_factory.mktemp("ray") / "audio"
    shutil.copytree(synth_collection.parent / "audio", d)
    bad = write_bad_files(d)
    first = sorted(d.glob("*.flac"))[0]
    shutil.copy(first, d / "zz-duplicate.flac")
    return d, bad


def test_ray_store_equals_local_store_and_rerun_adds_nothing(
    ray_cluster, collection, synth_collection, tmp_path
):
    folder, bad = collection
    opts = dict(metadata=synth_collection, window_s=4.0, hop_s=2.0, batch_files=4)
    local = Store(tmp_path / "local.lance")
    rep_local = index_paths(folder, local, "chroma", **opts)
    on_ray = Store(tmp_path / "ray.lance")
    rep_ray = index_paths(folder, on_ray, "chroma", engine="ray", **opts)

    # same report: added, duplicates (once), rejects with reasons
    assert sorted(rep_ray.added) == sorted(rep_local.added) and len(rep_ray.added) == 9
    assert [p for p, _ in rep_ray.duplicates] == [p for p, _ in rep_local.duplicates]
    assert len(rep_ray.duplicates) == 1
    # same recordings, provenance, spaces and metadata
    cols = ["recording_id", "path", "content_hash", "duration_s", "sample_rate", "piece_id"]
    a = local.recordings().sort_values("recording_id")[cols].reset_index(drop=True)
    b = on_ray.recordings().sort_values("recording_id")[cols].reset_index(drop=True)
    assert a.equals(b)
    assert [s.space_id for s in local.spaces(include_sequences=True)] == [
        s.space_id for s in on_ray.spaces(include_sequences=True)
    ]
    assert [s.provenance for s in local.spaces()] == [s.provenance for s in on_ray.spaces()]
    assert on_ray.verify_setup(rep_ray.setup_key) == []
    # same vectors in every space
    for sp in local.spaces(setup_key=rep_local.setup_key):
        ea, eb = local.load(sp), on_ray.load(sp)
        ka = sorted(zip(ea.keys, range(len(ea.keys))))
        kb = sorted(zip(eb.keys, range(len(eb.keys))))
        assert [k for k, _ in ka] == [k for k, _ in kb], sp.space_id
        assert np.allclose(ea.vectors[[i for _, i in ka]], eb.vectors[[i for _, i in kb]], atol=1e-5), (
            sp.space_id
        )
    # same rejects, with the reasons the bad files call for
    ra = local.rejects().sort_values("path")[["file_name", "reason", "setup_key"]].reset_index(drop=True)
    rb = on_ray.rejects().sort_values("path")[["file_name", "reason", "setup_key"]].reset_index(drop=True)
    assert ra.equals(rb)
    assert dict(zip(rb["file_name"], rb["reason"])) == bad

    # a second run adds nothing
    again = index_paths(folder, on_ray, "chroma", engine="ray", **opts)
    again_local = index_paths(folder, local, "chroma", **opts)
    assert again.added == [] and len(again.skipped) == 9  # the 9 recordings are unchanged
    assert sorted(again.skipped) == sorted(again_local.skipped)
    assert [p for p, _ in again.duplicates] == [p for p, _ in again_local.duplicates]  # accounted every run
    assert len(on_ray.recordings()) == 9


def test_killed_ray_run_resumes_without_duplicates(ray_cluster, collection, tmp_path):
    folder, _ = collection
    st = Store(tmp_path / "s.lance")
    first = index_paths(
        folder, st, "bssl", engine="ray", window_s=4.0, hop_s=2.0, batch_files=3, stop_after_batches=1
    )
    assert 0 < len(first.added) < 9
    rest = index_paths(folder, st, "bssl", engine="ray", window_s=4.0, hop_s=2.0, batch_files=3)
    assert len(first.added) + len(rest.added) == 9
    assert len(st.recordings()) == 9
    assert st.verify_setup(rest.setup_key) == []


def test_unknown_engine_is_refused(tmp_path, collection):
    from embedstore.errors import ConfigError

    with pytest.raises(ConfigError, match="engine"):
        index_paths(collection[0], tmp_path / "s.lance", "chroma", engine="spark")  # type: ignore[arg-type]


def test_cli_index_engine_ray_gives_the_local_counts(ray_cluster, collection, tmp_path):
    import json

    from typer.testing import CliRunner

    from embedstore.cli import app

    folder, bad = collection
    counts = {}
    for engine in ("local", "ray"):
        store = tmp_path / f"{engine}.lance"
        res = CliRunner().invoke(
            app,
            ["index", str(folder), "--store", str(store), "-e", "bssl", "--window", "4", "--hop", "2"]
            + ["--engine", engine, "--json"],
        )
        assert res.exit_code == 0, res.output
        rep = json.loads(res.output)
        rejected = sorted((r["path"], r["reason"]) for r in rep["rejected"])
        counts[engine] = {"added": rep["added"], "duplicates": rep["duplicates"], "rejected": rejected}
    assert counts["ray"] == counts["local"]
    assert len(counts["ray"]["rejected"]) == len(bad)


def test_cli_refuses_an_unknown_engine(collection, tmp_path):
    from typer.testing import CliRunner

    from embedstore.cli import app

    res = CliRunner().invoke(
        app, ["index", str(collection[0]), "--store", str(tmp_path / "s"), "--engine", "spark"]
    )
    assert res.exit_code != 0
    assert "error:" in res.output and "engine" in res.output
