"""A store on object storage, end to end, against a real S3 API server (moto in server mode) on 127.0.0.1.

index -> info -> search -> rejects through the command line with ``--store s3://...`` and ``--storage-option``,
credentials from the usual AWS environment variables; the remote store holds what a local store of the same files
holds; the derived FAISS cache lives in a local folder keyed by the store URI and is verified like a local one.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import numpy as np
import pytest
from typer.testing import CliRunner

from embedstore.cli import app

moto_server = pytest.importorskip(
    "moto.server",
    reason="moto[server] is not installed (pip install -r requirements-ci.txt, or the `s3` extra)",
)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with a bucket, AWS credentials in the environment; yields the options."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/pianos", method="PUT")).read()
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "EMBEDSTORE_CACHE": str(tmp_path_factory.mktemp("cache")),
    }.items():
        mp.setenv(key, value)
    yield {"aws_endpoint": endpoint, "allow_http": "true"}
    mp.undo()
    server.stop()


def _opts(options: dict) -> list[str]:
    return [x for k, v in options.items() for x in ("--storage-option", f"{k}={v}")]


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def remote_store(s3, synth_collection, tmp_path_factory):
    """The synthetic collection plus bad files indexed into s3://pianos/lab/piano.lance through the CLI."""
    from embedstore.synth import write_bad_files

    audio = tmp_path_factory.mktemp("remote") / "audio"
    shutil.copytree(synth_collection.parent / "audio", audio)
    bad = write_bad_files(audio)
    uri = "s3://pianos/lab/piano.lance"
    common = [
        "--encoder",
        "chroma",
        "--metadata",
        synth_collection,
        "--window",
        4,
        "--hop",
        2,
        "--no-progress",
    ]
    res = _run("index", audio, "--store", uri, *_opts(s3), *common)
    assert res.exit_code == 0, res.output
    return uri, audio, bad


def test_index_info_search_rejects_on_s3(s3, remote_store):
    uri, audio, bad = remote_store
    info = json.loads(_run("info", "--store", uri, *_opts(s3), "--json").output)
    assert info["store"] == uri
    assert info["recordings"] == 9 and info["rejects"] == len(bad)
    assert info["setups"][0]["encoder"] == "chroma" and info["setups"][0]["windows"] > 9

    rid = json.loads(_run("search", "--store", uri, *_opts(s3), "--query", sorted(audio.glob("*.flac"))[0],
                          "-k", 1, "--json").output)[0]["recording_id"]  # fmt: skip
    res = _run(
        "search", "--store", uri, *_opts(s3), "--id", rid, "-k", 3, "--exclude-same-recording", "--json"
    )
    assert res.exit_code == 0, res.output
    hits = json.loads(res.output)
    assert len(hits) == 3 and rid not in [h["recording_id"] for h in hits]
    batch = _run("search", "--store", uri, *_opts(s3), "--all", "-k", 2, "--json")
    assert batch.exit_code == 0 and len(batch.output.strip().splitlines()) == 9

    rej = json.loads(_run("rejects", "--store", uri, *_opts(s3), "--json").output)
    assert {r["file_name"]: r["reason"] for r in rej} == bad

    again = _run("index", audio, "--store", uri, *_opts(s3), "--encoder", "chroma", "--window", 4, "--hop", 2,
                 "--no-progress", "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["added"] == 0  # resumable on S3 too: nothing is indexed twice


def test_remote_store_holds_what_a_local_store_holds(s3, remote_store, synth_collection, tmp_path):
    from embedstore.pipeline import index_paths
    from embedstore.store import Store

    uri, audio, _ = remote_store
    local = Store(tmp_path / "local.lance")
    index_paths(audio, local, "chroma", metadata=synth_collection, window_s=4.0, hop_s=2.0)
    remote = Store(uri, create=False, storage_options=s3)
    assert remote.is_remote
    sp = local.find_space(level="window")
    a, b = local.load(sp), remote.load(sp)
    assert list(a.recording_ids) == list(b.recording_ids)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)
    assert sorted(local.rejects()["file_name"]) == sorted(remote.rejects()["file_name"])


def test_faiss_cache_of_a_remote_store_is_local_keyed_and_verified(s3, remote_store):
    from embedstore.search import search
    from embedstore.store import Store, remote_cache_dir

    uri, _, _ = remote_store
    st = Store(uri, create=False, storage_options=s3)
    rid = st.recordings()["recording_id"].iloc[0]
    first = search(st, recording_id=rid, k=3, backend="faiss-hnsw")
    cache = remote_cache_dir(uri)
    manifests = list(cache.rglob("manifest.json"))
    assert len(manifests) == 1 and "(built)" in first.backend
    assert remote_cache_dir("s3://pianos/other.lance") != cache
    second = search(st, recording_id=rid, k=3, backend="faiss-hnsw")
    assert "(loaded)" in second.backend
    main = manifests[0].parent / "index.faiss"
    main.write_bytes(main.read_bytes()[:-16])  # truncated: never trusted
    third = search(st, recording_id=rid, k=3, backend="faiss-hnsw")
    assert "rebuilt" in third.backend
    assert [h.recording_id for h in third.hits] == [h.recording_id for h in first.hits]


def test_missing_remote_store_and_bad_option_are_clear_errors(s3):
    res = _run("info", "--store", "s3://pianos/nothing-here.lance", *_opts(s3))
    assert res.exit_code == 2 and "no store" in res.output and "hint:" in res.output
    res = _run("info", "--store", "s3://pianos/lab/piano.lance", "--storage-option", "no-equals-sign")
    assert res.exit_code == 2 and "bad storage option" in res.output
