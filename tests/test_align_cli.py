"""CLI tests of `embedstore align`, `passage`, `curves` and `style` (CliRunner, synthetic collection)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedstore.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EMBEDSTORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def audio(synth_collection, clip):
    return str(synth_collection.parent / "audio" / f"{clip}.flac")


def test_align_two_files_json_plot_and_csv(synth_collection, tmp_path):
    a = audio(synth_collection, "Albrecht__Piece_01__Arlen")
    b = audio(synth_collection, "Albrecht__Piece_01__Castell")
    r = runner.invoke(
        app, ["align", a, b, "--json", "--plot", str(tmp_path / "p.png"), "--out", str(tmp_path / "m.csv")]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["confidence"] > 0.5 and d["slope"] > 1.0  # Castell is slower than Arlen
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert (tmp_path / "m.csv").read_text().startswith("time_a,time_b\n")
    r = runner.invoke(app, ["align", a, b])
    assert r.exit_code == 0 and "confidence" in r.output


def test_align_stored_ids(chroma_store, tmp_path):
    r = runner.invoke(
        app,
        [
            "align",
            "Albrecht__Piece_02__Brody",
            "Albrecht__Piece_02__Arlen",
            "--store",
            chroma_store.uri,
            "-o",
            str(tmp_path / "m.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "m.json").read_text())["a"][0] >= 0


def test_align_to_store_transfers_annotations(chroma_store, synth_collection, tmp_path):
    ann = tmp_path / "beats.txt"
    ann.write_text("0.0\t0.0\tdb\n0.5\t0.5\tb\n1.0\t1.0\tb\n")
    r = runner.invoke(
        app,
        [
            "align",
            audio(synth_collection, "Brunelli__Piece_03__Arlen"),
            "--to-store",
            chroma_store.uri,
            "--where",
            "piece_id = 'Brunelli/Piece_03'",
            "--transfer",
            str(ann),
            "--out",
            str(tmp_path / "beats"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert len(rep) == 2  # the reference file itself is skipped
    for e in rep:
        assert e["n"] == 3 and (tmp_path / "beats" / (e["file_name"][:-5] + ".txt")).exists()


def test_passage_curves_and_style_commands(chroma_store):
    r = runner.invoke(
        app,
        [
            "passage",
            "--store",
            chroma_store.uri,
            "--id",
            "Albrecht__Piece_01__Brody",
            "--start",
            "2",
            "--end",
            "6",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    hits = json.loads(r.output)
    assert hits[0]["file_name"] == "Albrecht__Piece_01__Brody.flac" and abs(hits[0]["start_s"] - 2.0) < 0.2
    r = runner.invoke(
        app, ["curves", "--store", chroma_store.uri, "--where", "piece_id = 'Albrecht/Piece_01'", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["recordings"]) == 3


def test_style_command_writes_the_style_space(chroma_store_copy):
    r = runner.invoke(app, ["style", "--store", chroma_store_copy.uri, "--write-space"])
    assert r.exit_code == 0, r.output
    assert "wrote space style.L0.recording-mean" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["align", "only-one.flac"], "give two recordings"),
        (["align", "a.flac", "b.flac", "--ends", "loose"], "valid values"),
        (["align", "a.flac", "b.flac"], "no such file"),
        (["align", "ref.flac", "--to-store", "x.lance"], "--to-store needs --transfer"),
        (["curves", "--store", "x.lance"], "--where must select"),
    ],
)
def test_align_errors_are_one_line_with_hint(args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output
