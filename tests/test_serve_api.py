"""The JSON API of `embedstore serve`, through an HTTP client, on a store the tests build from generated audio."""

from __future__ import annotations

import shutil
from urllib.parse import quote

import numpy as np
import pytest

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def store(chroma_store, tmp_path_factory):
    """A private copy of the session's synthetic store (the map cache is written beside it)."""
    from embedstore.store import open_store

    dst = tmp_path_factory.mktemp("serve") / "store.lance"
    shutil.copytree(chroma_store.uri, dst)
    return open_store(dst)


@pytest.fixture(scope="module")
def client(store):
    from fastapi.testclient import TestClient

    from embedstore.serve import create_app

    with TestClient(create_app(store), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def recs(store):
    return store.recordings().sort_values("file_name").reset_index(drop=True)


def _versions(store) -> dict:
    return {name: store.table_version(name) for name in store.table_names()}


def _no_leak(text: str, store) -> None:
    assert "Traceback" not in text and 'File "' not in text
    assert store.uri not in text


# ---------------------------------------------------------------------------------------------- page, info
def test_page_and_assets_ship_with_the_package_and_load_nothing_external(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    texts = [page.text]
    for asset in ("/static/app.js", "/static/map.js", "/static/style.css"):
        assert asset in page.text
        r = client.get(asset)
        assert r.status_code == 200
        texts.append(r.text)
    for t in texts:
        assert "http://" not in t and "https://" not in t and "cdn" not in t.lower()


def test_info_is_what_the_cli_says(client, store):
    d = client.get("/api/info").json()
    ref = store.info()
    assert d["recordings"] == ref["recordings"] == 9
    assert [s["setup"] for s in d["setups"]] == [s["setup"] for s in ref["setups"]]
    assert d["server"]["read_only"] is True and d["server"]["max_upload_bytes"] == 50 * 2**20
    sp = client.get("/api/spaces").json()
    assert sp["default"] == "chroma-w4-h2.L0.recording-mean"
    assert {s["space_id"] for s in sp["spaces"]} == {
        "chroma-w4-h2.L0.recording-mean",
        "chroma-w4-h2.L0.recording-max",
    }
    assert sp["colour_by"] == ["piece", "performer", "composer"]


def test_host_header_must_be_local(client):
    r = client.get("/api/info", headers={"Host": "attacker.example"})
    assert r.status_code == 400


# ---------------------------------------------------------------------------------------------- recordings
def test_recordings_found_by_any_part_of_their_names(client, recs):
    every = client.get("/api/recordings").json()
    assert every["total"] == len(recs) == 9
    assert all("path" not in r for r in every["recordings"])  # file locations stay on the server
    castell = client.get("/api/recordings", params={"q": "CASTELL"}).json()
    assert castell["total"] == 3 and {r["performer"] for r in castell["recordings"]} == {"Castell"}
    one = client.get("/api/recordings", params={"q": "piece_02 brody"}).json()
    assert [r["file_name"] for r in one["recordings"]] == ["Albrecht__Piece_02__Brody.flac"]
    assert client.get("/api/recordings", params={"q": "no such thing"}).json()["total"] == 0
    page = client.get("/api/recordings", params={"limit": 2}).json()
    assert page["total"] == 9 and len(page["recordings"]) == 2
    brunelli = client.get("/api/recordings", params={"where": "composer = 'Brunelli'"}).json()
    assert brunelli["total"] == 3 and {r["composer"] for r in brunelli["recordings"]} == {"Brunelli"}
    rid = recs.loc[0, "recording_id"]
    assert client.get(f"/api/recordings/{rid}").json()["file_name"] == recs.loc[0, "file_name"]
    assert client.get("/api/recordings/0000000000000000").status_code == 404


# ---------------------------------------------------------------------------------------------- search
def test_search_by_id_finds_the_other_performances_of_the_piece(client, recs):
    for _, r in recs.iterrows():
        d = client.get("/api/search", params={"id": r["recording_id"], "k": 8}).json()
        hits = d["hits"]
        assert len(hits) == 8 and r["recording_id"] not in [h["recording_id"] for h in hits]
        assert [h["piece"] for h in hits[:2]] == [r["piece_id"]] * 2
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)
        for h in hits:
            tm = h["time_map"]
            assert tm["method"] == "passage-offset" and tm["hit_s"] == [h["start_s"]]
            assert 0 <= h["start_s"] < h["end_s"] <= h["duration_s"] + 4.0
        assert d["reference"]["recording_id"] == r["recording_id"]
    me = client.get("/api/search", params={"id": recs.loc[0, "recording_id"], "exclude_self": "false"})
    assert me.json()["hits"][0]["recording_id"] == recs.loc[0, "recording_id"]
    assert me.json()["hits"][0]["score"] == pytest.approx(1.0, abs=1e-3)


def test_piece_scope_and_interpretation_mode(client, recs):
    rid, piece = recs.loc[0, "recording_id"], recs.loc[0, "piece_id"]

    def pieces(**params):
        d = client.get("/api/search", params={"id": rid, "k": 8, **params})
        assert d.status_code == 200, d.text
        return {h["piece"] for h in d.json()["hits"]}

    assert len(pieces()) > 1  # plain: every piece
    assert pieces(any_piece="false") == {piece}
    assert pieces(mode="interpretation") == {piece}
    assert len(pieces(mode="interpretation", any_piece="true")) > 1
    bad = client.get("/api/search", params={"id": rid, "mode": "vibes"})
    assert bad.status_code == 422 and "'plain', 'interpretation'" in bad.json()["error"]


def test_passage_search_and_its_time_map(client, recs):
    from embedstore.serve.timemap import map_time

    rid = recs.loc[0, "recording_id"]
    d = client.get("/api/search", params={"id": rid, "start": 6, "end": 10}).json()
    assert (d["query"]["start_s"], d["query"]["end_s"]) == (6.0, 10.0)
    assert d["searched_space"].endswith(".window")
    top = d["hits"][0]
    assert top["piece"] == recs.loc[0, "piece_id"]
    tm = top["time_map"]
    assert tm["ref_passage"] == [6.0, 10.0] and tm["ref_s"] == [6.0]
    assert map_time(7.5, tm, to="hit") == pytest.approx(top["start_s"] + 1.5)
    assert map_time(map_time(7.5, tm, to="hit"), tm, to="ref") == pytest.approx(7.5)
    for start, end in ((10, 6), (-1, 3)):
        r = client.get("/api/search", params={"id": rid, "start": start, "end": end})
        assert r.status_code == 422 and "passage" in r.json()["error"]


def test_search_filter_and_bad_requests(client, recs):
    rid = recs.loc[0, "recording_id"]
    d = client.get("/api/search", params={"id": rid, "where": "composer = 'Brunelli'"}).json()
    assert d["hits"] and {h["composer"] for h in d["hits"]} == {"Brunelli"}
    assert client.get("/api/search", params={"id": "0000000000000000"}).status_code == 404
    assert client.get("/api/search", params={"id": rid, "k": 0}).status_code == 422
    r = client.get("/api/search", params={"id": rid, "k": "many"})
    assert r.status_code == 422 and r.json()["error"].startswith("invalid request")
    assert client.get("/api/search", params={"id": rid, "space": "nope"}).status_code == 400


SQL_ATTACKS = [
    "1=1; DROP TABLE recordings",
    "composer = 'x'; DELETE FROM recordings WHERE 1=1; --",
    "' OR '1'='1",
    "composer = 'Bach' OR 1=1 --",
    "recording_id IN (SELECT recording_id FROM recordings)",
    "composer = ''; UPDATE recordings SET composer = 'pwned'",
    "1=1) UNION SELECT * FROM spaces --",
    "nonexistent_column = 3",
    "\x00",
    "a" * 5000,
]


@pytest.mark.parametrize("where", SQL_ATTACKS)
def test_sql_in_filters_is_refused_or_harmless(client, store, recs, where):
    before = _versions(store)
    r1 = client.get("/api/recordings", params={"where": where})
    r2 = client.get("/api/search", params={"id": recs.loc[0, "recording_id"], "where": where})
    for r in (r1, r2):
        assert r.status_code in (200, 400), r.text
        _no_leak(r.text, store)
        if r.status_code == 400:
            assert r.json()["error"] and len(r.json()["error"]) <= 400
    assert _versions(store) == before
    now = store.recordings()
    assert len(now) == len(recs) and "pwned" not in set(now["composer"])


# ---------------------------------------------------------------------------------------------- uploads
def test_upload_of_an_indexed_file_is_recognised(client, recs):
    r = recs.loc[4]
    with open(r["path"], "rb") as f:
        d = client.post("/api/search", files={"file": (r["file_name"], f)}, data={"exclude_self": "false"})
    assert d.status_code == 200, d.text
    d = d.json()
    assert d["query"]["upload"] == r["file_name"] and d["reference"]["recording_id"] == r["recording_id"]
    assert d["hits"][0]["recording_id"] == r["recording_id"]


def test_upload_is_embedded_exactly_like_search_query(client, store, recs, tmp_path):
    import soundfile as sf

    from embedstore.search import search

    r = recs.loc[2]
    y, sr = sf.read(r["path"], dtype="float32")
    q = tmp_path / "my take.wav"
    sf.write(q, 0.5 * y[: int(9 * sr)], sr)  # quieter and shorter: not in the store
    with open(q, "rb") as f:
        d = client.post(
            "/api/search", files={"file": ("my take.wav", f, "audio/wav")}, data={"k": "5", "start": "1"}
        ).json()
    assert d["reference"]["recording_id"] is None and d["reference"]["upload"] is True
    ref = search(store, query_path=q, k=5, start_s=1.0, exclude_same_recording=True)
    assert [h["recording_id"] for h in d["hits"]] == [h.recording_id for h in ref.hits]
    assert [h["score"] for h in d["hits"]] == pytest.approx([h.score for h in ref.hits], abs=1e-4)
    assert d["hits"][0]["recording_id"] == r["recording_id"]


def test_unusable_uploads_get_the_reasons_of_rejects(client, store, tmp_path):
    from embedstore.pipeline import index_paths
    from embedstore.store import Store
    from embedstore.synth import write_bad_files

    expected = write_bad_files(tmp_path / "bad")
    probe = Store(tmp_path / "probe.lance")
    index_paths(tmp_path / "bad", probe, "chroma", window_s=4.0, hop_s=2.0)
    rejects = dict(zip(probe.rejects()["file_name"], probe.rejects()["reason"]))
    assert rejects == expected
    for name in expected:
        with open(tmp_path / "bad" / name, "rb") as f:
            r = client.post("/api/search", files={"file": (name, f)})
        assert r.status_code == 422, (name, r.text)
        assert r.json()["reason"] == rejects[name], name
        assert "embedstore-upload" not in r.text and "/tmp" not in r.json()["error"]
        _no_leak(r.text, store)
    assert client.post("/api/search", data={"k": "3"}).status_code == 422  # no file at all


def test_upload_limit_gives_413(store):
    from fastapi.testclient import TestClient

    from embedstore.serve import create_app

    c = TestClient(create_app(store, max_upload_bytes=20_000), base_url="http://127.0.0.1")
    body = b"\0" * 200_000
    r = c.post("/api/search", files={"file": ("big.wav", body)})
    assert r.status_code == 413 and "larger than" in r.json()["error"] and r.json()["hint"]

    def chunks():  # no Content-Length: the limit holds while streaming
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
        for _ in range(20):
            yield b"\0" * 10_000
        yield b"\r\n--xyz--\r\n"

    r = c.post("/api/search", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413
    assert c.get("/api/info").status_code == 200


# ---------------------------------------------------------------------------------------------- audio
def test_audio_streams_with_range_requests(client, recs):
    r = recs.loc[0]
    data = open(r["path"], "rb").read()
    full = client.get(f"/api/audio/{r['recording_id']}")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "audio/flac" and full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/api/audio/{r['recording_id']}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(f"/api/audio/{r['recording_id']}", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    far = client.get(f"/api/audio/{r['recording_id']}", headers={"Range": f"bytes={len(data) + 10}-"})
    assert far.status_code == 416


def test_audio_is_served_by_recording_id_only(client, recs):
    r = recs.loc[0]
    attacks = [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..%252F..%252Fetc%252Fpasswd",
        "....//....//etc/passwd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        quote(r["path"], safe=""),  # the stored absolute path itself
        quote(r["file_name"]),  # the file name: not an id
        quote(r["file_name"].rsplit(".", 1)[0]),  # the stem: store.recording() would accept it, audio not
        "0000000000000000",
        "a" * 300,
        "%00",
        "..",
        "~root",
        "a%3Bb",
    ]
    for a in attacks:
        resp = client.get("/api/audio/" + a)
        assert resp.status_code in (404, 422), (a, resp.status_code)
        assert not resp.content.startswith((b"fLaC", b"RIFF")) and b"root:" not in resp.content
        assert resp.headers["content-type"].startswith("application/json")


# ---------------------------------------------------------------------------------------------- map
def test_map_is_cached_verified_and_recomputed_when_stale_or_corrupt(client, store, recs):
    import json
    from pathlib import Path

    first = client.get("/api/map").json()
    assert first["status"].startswith("computed") and first["method_used"] == "pca"
    assert len(first["points"]) == len(recs)
    assert {p["piece"] for p in first["points"]} == set(recs["piece_id"])
    xy = np.array([[p["x"], p["y"]] for p in first["points"]])
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0
    # performances of a piece lie closer together than performances of different pieces
    pieces = np.array([p["piece"] for p in first["points"]])
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    same = pieces[:, None] == pieces[None]
    assert dist[same & ~np.eye(len(xy), dtype=bool)].mean() < dist[~same].mean()

    again = client.get("/api/map").json()
    assert again["status"] == "cache" and again["points"] == first["points"]
    d = Path(store.uri) / "_maps" / first["space"] / "pca"
    raw = bytearray((d / "coords.npy").read_bytes())
    raw[-8:] = b"\xff" * 8
    (d / "coords.npy").write_bytes(bytes(raw))
    fixed = client.get("/api/map").json()
    assert "checksum mismatch" in fixed["status"] and fixed["points"] == first["points"]
    m = json.loads((d / "manifest.json").read_text())
    m["source"]["table_version"] -= 1
    (d / "manifest.json").write_text(json.dumps(m))
    stale = client.get("/api/map").json()
    assert "stale" in stale["status"] and stale["points"] == first["points"]
    (d / "manifest.json").write_text("{not json")
    assert "unreadable" in client.get("/api/map").json()["status"]
    assert client.get("/api/map").json()["status"] == "cache"


def test_map_methods(client, recs):
    tsne = client.get("/api/map", params={"method": "tsne"}).json()
    assert tsne["method_used"] == "tsne" and len(tsne["points"]) == len(recs)
    assert all(np.isfinite([p["x"], p["y"]]).all() for p in tsne["points"])
    bad = client.get("/api/map", params={"method": "mds"})
    assert bad.status_code == 422 and "'pca', 'umap', 'tsne'" in bad.json()["error"]
    win = client.get("/api/map", params={"space": "chroma-w4-h2.L0.window"})
    assert win.status_code == 400 and "recording-level" in win.json()["error"]


@pytest.mark.slow
def test_map_umap(client, recs):
    d = client.get("/api/map", params={"method": "umap"}).json()
    assert d["method_used"] == "umap" and len(d["points"]) == len(recs)


def test_few_recordings_fall_back_to_pca():
    from embedstore.serve.maps import project_2d

    xy, used = project_2d(np.eye(3, 8), "umap")
    assert used == "pca" and xy.shape == (3, 2)
    xy, used = project_2d(np.zeros((0, 8)), "tsne")
    assert xy.shape == (0, 2)


# ---------------------------------------------------------------------------------------------- read-only
def test_the_server_never_writes_the_store_tables(client, store, recs):
    before = _versions(store)
    rid = recs.loc[1, "recording_id"]
    client.get("/api/recordings", params={"q": "arlen"})
    client.get("/api/search", params={"id": rid, "mode": "interpretation"})
    client.get("/api/search", params={"id": rid, "start": 2, "end": 5})
    client.get(f"/api/audio/{rid}", headers={"Range": "bytes=0-10"})
    client.get("/api/map")
    with open(recs.loc[1, "path"], "rb") as f:
        client.post("/api/search", files={"file": ("x.flac", f)})
    assert _versions(store) == before


def test_a_store_changed_while_serving_shows_up(chroma_store, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    import embedstore.serve.catalog as catalog_module
    from embedstore.serve import create_app
    from embedstore.store import open_store

    shutil.copytree(chroma_store.uri, tmp_path / "live.lance")
    live = open_store(tmp_path / "live.lance")
    monkeypatch.setattr(catalog_module, "RECHECK_S", 0.0)
    c = TestClient(create_app(live), base_url="http://127.0.0.1")
    assert c.get("/api/recordings").json()["total"] == 9
    gone = live.recordings()["recording_id"].iloc[0]
    open_store(tmp_path / "live.lance").delete_recordings([gone])  # e.g. another process re-indexing
    assert c.get("/api/recordings").json()["total"] == 8
    assert c.get(f"/api/audio/{gone}").status_code == 404
