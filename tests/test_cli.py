"""CliRunner tests of the foundation commands: index, search, info, rejects, encoders, demo, --help."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from embedstore.cli import app

runner = CliRunner()


def _run(*args):
    res = runner.invoke(app, [str(a) for a in args])
    return res


@pytest.fixture(scope="module")
def indexed(synth_collection, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    audio = tmp / "audio"
    shutil.copytree(synth_collection.parent / "audio", audio)
    from embedstore.synth import write_bad_files

    bad = write_bad_files(audio)
    store = tmp / "piano.lance"
    res = _run(
        "index",
        audio,
        "--store",
        store,
        "--encoder",
        "chroma",
        "--metadata",
        synth_collection,
        "--window",
        4,
        "--hop",
        2,
        "--no-progress",
    )
    assert res.exit_code == 0, res.output
    return store, audio, bad


def test_index_reports_and_reruns_add_nothing(indexed, synth_collection):
    store, audio, bad = indexed
    res = _run(
        "index",
        audio,
        "--store",
        store,
        "--encoder",
        "chroma",
        "--metadata",
        synth_collection,
        "--window",
        4,
        "--hop",
        2,
        "--json",
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["added"] == 0 and d["skipped"] == 9
    assert {r["reason"] for r in d["rejected"]} == set(bad.values())


def test_rejects_lists_every_bad_file(indexed):
    store, audio, bad = indexed
    res = _run("rejects", "--store", store, "--json")
    assert res.exit_code == 0
    rows = json.loads(res.output)
    assert {r["file_name"]: r["reason"] for r in rows} == bad
    table = _run("rejects", "--store", store)
    assert "corrupt" in table.output


def test_info_json(indexed):
    store, _, _ = indexed
    d = json.loads(_run("info", "--store", store, "--json").output)
    assert d["recordings"] == 9 and d["rejects"] == len(indexed[2])
    s = d["setups"][0]
    assert s["encoder"] == "chroma" and s["window_s"] == 4 and s["hop_s"] == 2 and s["layers"] == 1
    assert "piece_id" in d["metadata_columns"]
    assert "chroma-w4-h2" in _run("info", "--store", store).output


def test_search_json_by_file_and_id(indexed):
    store, audio, _ = indexed
    q = sorted(audio.glob("*.flac"))[0]
    res = _run("search", "--store", store, "--query", q, "-k", "3", "--json")
    assert res.exit_code == 0, res.output
    hits = json.loads(res.output)
    assert len(hits) == 3
    assert {"recording_id", "path", "score", "start_s", "end_s", "piece_id"} <= set(hits[0])
    rid = hits[0]["recording_id"]
    res = _run("search", "--store", store, "--id", rid, "-k", "3", "--exclude-same-recording", "--json")
    assert rid not in [h["recording_id"] for h in json.loads(res.output)]
    res = _run(
        "search", "--store", store, "--query", q, "--start", 2, "--end", 6, "--windows", "--json", "-k", 4,
        "--no-refine",
    )  # fmt: skip
    hits = json.loads(res.output)
    assert len(hits) == 4 and all(h["end_s"] - h["start_s"] == pytest.approx(4.0) for h in hits)
    res = _run(  # chroma stores frame sequences: passages are refined by default (issue 13)
        "search", "--store", store, "--query", q, "--start", 2, "--end", 6, "--windows", "--json", "-k", 4
    )  # fmt: skip
    hits = json.loads(res.output)
    assert len(hits) == 4 and all(
        h["alignment"]["window_end_s"] - h["alignment"]["window_start_s"] == 4 for h in hits
    )
    piece = hits[0]["piece_id"]
    res = _run("search", "--store", store, "--query", q, "--where", f"piece_id = '{piece}'", "--json")
    assert {h["piece_id"] for h in json.loads(res.output)} == {piece}
    table = _run("search", "--store", store, "--query", q, "-k", 2)
    assert table.exit_code == 0 and "score" in table.output


def test_errors_are_one_line_with_hint(tmp_path, indexed):
    res = _run("search", "--store", tmp_path / "nothing.lance", "--id", "x")
    assert res.exit_code == 2
    assert "error:" in res.output and "hint:" in res.output and "Traceback" not in res.output
    res = _run("search", "--store", indexed[0], "--id", "x", "--where", "nope = 1")
    assert res.exit_code == 2 and "error:" in res.output
    res = _run("index", tmp_path, "--store", tmp_path / "s.lance", "--encoder", "no-such-encoder")
    assert res.exit_code == 2 and "valid:" in res.output


def test_encoders_lists_handcrafted_and_transformers(tmp_path):
    res = _run("encoders", "--json")
    assert res.exit_code == 0
    names = {r["name"] for r in json.loads(res.output)}
    assert {"chroma", "logmel", "mfcc", "bssl"} <= names
    assert "mert-v1-95m" in names


def test_demo_runs_end_to_end(tmp_path):
    res = _run("demo", "--out", tmp_path / "demo", "--pieces", 3, "--performers", 2)
    assert res.exit_code == 0, res.output
    assert "MAP" in res.output and (tmp_path / "demo" / "store.lance").is_dir()


#: Heavy third-party libraries that `embedstore --help` must not import (COMMON.md's lazy-import list).
HEAVY = (
    "torch",
    "transformers",
    "lancedb",
    "lance",
    "pyarrow",
    "pandas",
    "faiss",
    "ray",
    "librosa",
    "numba",
    "sklearn",
    "matplotlib",
    "onnxruntime",
    "madmom",
    "umap",
    "fastapi",
    "uvicorn",
)


def test_help_is_fast_because_imports_are_lazy():
    code = (
        f"import sys, embedstore.cli; heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    res = _run("--help")
    assert res.exit_code == 0 and "index" in res.output and "search" in res.output


def test_every_command_group_registers_commands():
    from embedstore.cli import COMMAND_GROUPS, build_app

    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert {"index", "search", "info", "probe", "project", "frames"} <= set(COMMAND_GROUPS)
    for group in COMMAND_GROUPS:
        one = build_app((group,))
        assert one.registered_commands or one.registered_groups, group
    assert {"index", "search", "info", "encoders", "demo", "probe", "project"} <= names


def test_a_missing_or_broken_command_group_is_an_error_at_start_up(monkeypatch, tmp_path):
    import types

    import embedstore.commands
    from embedstore.cli import CommandGroupError, build_app

    with pytest.raises(CommandGroupError, match="'nosuch'.*failed to import: ModuleNotFoundError") as e:
        build_app(("index", "nosuch"))
    assert e.value.hint
    # a module that raises while importing: the original error is named and chained
    (tmp_path / "exploding.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.setattr(embedstore.commands, "__path__", [*embedstore.commands.__path__, str(tmp_path)])
    with pytest.raises(CommandGroupError, match="RuntimeError: boom at import") as e:
        build_app(("exploding",))
    assert isinstance(e.value.__cause__, RuntimeError)
    # a module without register(app)
    monkeypatch.setitem(
        sys.modules, "embedstore.commands.hollow", types.ModuleType("embedstore.commands.hollow")
    )
    with pytest.raises(CommandGroupError, match="'hollow'.*no register"):
        build_app(("hollow",))
    # the program itself stops at start-up, naming the group
    code = "import sys; sys.modules['embedstore.commands.search'] = None; import embedstore.cli"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode != 0
    assert (
        "CommandGroupError: command group 'search' (embedstore.commands.search) failed to import" in p.stderr
    )


def test_top_level_cli_py_runs_the_same_app_from_a_checkout(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run(
        [sys.executable, str(root / "cli.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    for command in ("index", "search", "info", "encoders", "probe", "project"):
        assert command in p.stdout

    def commands(text: str) -> list[str]:
        listing = text.split("Commands:")[1]
        return [line.split()[0] for line in listing.splitlines() if line[:2] == "  " and line[2:3].strip()]

    assert commands(_run("--help").output) == commands(p.stdout)  # same commands, in the same order
    # it runs the checkout it sits in
    code = (
        f"import runpy, sys; sys.argv = ['cli.py']; runpy.run_path({str(root / 'cli.py')!r}); "
        "import embedstore; print(embedstore.__file__)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p.stdout.strip() == str(root / "embedstore" / "__init__.py"), p.stderr
    p = subprocess.run(
        [sys.executable, str(root / "cli.py"), "info", "--store", str(tmp_path / "none.lance")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr
