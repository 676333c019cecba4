"""Label files: joining to recordings by id / path / file name / metadata, PLD technique layout, ranking pairs."""

from __future__ import annotations

import pandas as pd
import pytest

from embedstore.errors import ConfigError
from embedstore.labels import derive_pairs, join_labels, read_pairs, read_table, technique_matrix


@pytest.fixture()
def recordings(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    rows = []
    for i, (piece, perf) in enumerate([("p1", "A"), ("p1", "B"), ("p2", "A"), ("p2", "B")]):
        f = audio / f"clip{i}.flac"
        f.write_bytes(b"x")
        rows.append(
            {
                "recording_id": f"{i:016x}",
                "path": str(f.resolve()),
                "file_name": f.name,
                "clip_id": f"c{i}",
                "piece_id": piece,
                "performer_code": perf,
            }
        )
    return pd.DataFrame(rows)


def test_join_by_recording_id(recordings):
    lab = pd.DataFrame({"recording_id": recordings["recording_id"][:3], "henle": [4, 6, 7]})
    j = join_labels(recordings, lab)
    assert j.matched_by == "recording_id"
    assert list(j.frame["henle"]) == [4, 6, 7]
    assert set(j.frame.columns) >= {"piece_id", "performer_code"}


def test_join_by_relative_path(recordings, tmp_path):
    f = tmp_path / "labels.csv"
    pd.DataFrame(
        {"audio": ["audio/clip2.flac", "audio/clip0.flac", "audio/missing.flac"], "level": [9, 1, 5]}
    ).to_csv(f, index=False)
    j = join_labels(recordings, f)
    assert j.matched_by in ("path", "file_name")
    got = dict(zip(j.frame["file_name"], j.frame["level"]))
    assert got == {"clip2.flac": 9, "clip0.flac": 1}
    assert j.unmatched == ["audio/missing.flac"]


def test_join_by_file_stem_and_metadata_column(recordings):
    by_stem = join_labels(recordings, pd.DataFrame({"id": ["clip1", "clip3"], "y": [1, 2]}))
    assert by_stem.matched_by == "stem"
    assert list(by_stem.frame["file_name"]) == ["clip1.flac", "clip3.flac"]
    by_meta = join_labels(recordings, pd.DataFrame({"clip_id": ["c3", "c0"], "y": [5, 6]}))
    assert by_meta.matched_by == "clip_id"
    assert dict(zip(by_meta.frame["clip_id"], by_meta.frame["y"])) == {"c3": 5, "c0": 6}


def test_join_piece_level_labels_many_to_one(recordings):
    j = join_labels(recordings, pd.DataFrame({"piece_id": ["p2"], "henle": [8]}), on="piece_id")
    assert len(j.frame) == 2 and set(j.frame["henle"]) == {8}


def test_label_columns_override_store_metadata(recordings):
    rec = recordings.assign(henle=[1, 1, 1, 1])
    j = join_labels(rec, pd.DataFrame({"recording_id": rec["recording_id"], "henle": [9, 8, 7, 6]}))
    assert list(j.frame["henle"]) == [9, 8, 7, 6]


def test_no_match_is_a_clear_error(recordings):
    with pytest.raises(ConfigError) as e:
        join_labels(recordings, pd.DataFrame({"id": ["nope"], "y": [1]}))
    assert e.value.hint


def test_read_table_formats(tmp_path):
    (tmp_path / "a.json").write_text('{"x1": {"y": 1}, "x2": {"y": 2}}')
    assert list(read_table(tmp_path / "a.json")["id"]) == ["x1", "x2"]
    (tmp_path / "b.jsonl").write_text('{"id": "a", "y": 1}\n{"id": "b", "y": 0}\n')
    assert len(read_table(tmp_path / "b.jsonl")) == 2
    with pytest.raises(ConfigError):
        read_table(tmp_path / "missing.csv")


def test_pld_one_hot_layout():
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "technique": ["Arpeggios", "Scales|Staccato", "Octave"],
            "Scales": [0, 1, 0],
            "Arpeggios": [1, 0, 0],
            "Ornaments": [0, 0, 0],
            "Repeatednotes": [0, 0, 0],
            "Doublenotes": [0, 0, 0],
            "Octave": [0, 0, 1],
            "Staccato": [0, 1, 0],
        }
    )
    Y, names = technique_matrix(df)
    assert names == ["Scales", "Arpeggios", "Ornaments", "Repeatednotes", "Doublenotes", "Octave", "Staccato"]
    assert Y.tolist()[1] == [1, 0, 0, 0, 0, 0, 1]
    Y2, names2 = technique_matrix(df, classes="Octave,Staccato")
    assert names2 == ["Octave", "Staccato"] and Y2[:, 0].tolist() == [0, 0, 1]


def test_technique_text_column_defines_label_set():
    Y, names = technique_matrix(pd.DataFrame({"technique": ["trill|scale", "scale", "glissando"]}))
    assert names == ["glissando", "scale", "trill"]
    assert Y.tolist() == [[0, 1, 1], [0, 1, 0], [1, 0, 0]]
    with pytest.raises(ConfigError):
        technique_matrix(pd.DataFrame({"x": [0.3, 2.0]}))


def test_read_pairs_resolves_keys_and_preferences(recordings, tmp_path):
    f = tmp_path / "pairs.csv"
    pd.DataFrame(
        {
            "a": ["clip0.flac", "c2", recordings["recording_id"][1]],
            "b": ["clip1.flac", "c3", "clip9.flac"],
            "winner": ["b", "c2", "a"],
        }
    ).to_csv(f, index=False)
    p = read_pairs(f, recordings)
    # clip_id keys match through the metadata column; the pair naming a missing file is dropped
    assert len(p) == 2 and p.attrs["dropped"] == 1
    first = p.iloc[0]
    assert first["a"] == recordings["recording_id"][0] and first["b"] == recordings["recording_id"][1]
    assert not first["a_better"]
    second = p.iloc[1]
    assert second["a"] == recordings["recording_id"][2] and bool(second["a_better"])


def test_derive_pairs_within_passage_only():
    df = pd.DataFrame(
        {
            "recording_id": ["r1", "r2", "r3", "r4", "r5"],
            "seg": ["s1", "s1", "s1", "s2", "s2"],
            "rating": [0.2, 0.5, 0.5, 0.9, 0.1],
        }
    )
    p = derive_pairs(df, "rating", within="seg")
    assert set(map(tuple, p[["a", "b"]].to_numpy())) == {
        ("r1", "r2"),
        ("r1", "r3"),
        ("r4", "r5"),
    }  # tie skipped
    assert (p.groupby("within").size().to_dict()) == {"s1": 2, "s2": 1}
    got = dict(zip(zip(p["a"], p["b"]), p["a_better"]))
    assert not got[("r1", "r2")]
    assert bool(got[("r4", "r5")])
    low = derive_pairs(df, "rating", within="seg", higher_is_better=False)
    assert (low["a_better"].to_numpy() == ~p["a_better"].to_numpy()).all()
    assert len(derive_pairs(df, "rating", within="seg", min_diff=0.5)) == 1


def test_label_rows_for_one_recording_count_once_when_they_agree(recordings, tmp_path):
    same = pd.DataFrame({"file_name": ["clip0.flac", "clip0.flac", "clip1.flac"], "level": [3, 3, 5]})
    j = join_labels(recordings, same)
    assert dict(zip(j.frame["file_name"], j.frame["level"])) == {"clip0.flac": 3, "clip1.flac": 5}
    # the same recording named two ways, with the same label: one row
    two_ways = pd.DataFrame({"audio": ["audio/clip0.flac", "clip0.flac"], "level": [3, 3]})
    assert len(join_labels(recordings, two_ways, base_dir=tmp_path).frame) == 1


def test_label_rows_that_disagree_about_one_recording_are_refused(recordings):
    clash = pd.DataFrame({"file_name": ["clip0.flac", "clip1.flac", "clip0.flac"], "level": [3, 5, 7]})
    with pytest.raises(ConfigError) as e:
        join_labels(recordings, clash)
    assert "rows 1 and 3" in str(e.value) and e.value.hint
    pieces = pd.DataFrame({"piece_id": ["p1", "p1", "p2"], "henle": [4, 4, 8]})
    assert len(join_labels(recordings, pieces, on="piece_id").frame) == 4
    with pytest.raises(ConfigError, match="'p1'"):
        join_labels(recordings, pieces.assign(henle=[4, 5, 8]), on="piece_id")


def test_label_file_ids_keep_leading_zeros(recordings, tmp_path):
    rec = recordings.assign(clip_id=["007", "008", "009", "010"])
    f = tmp_path / "labels.csv"
    f.write_text("clip_id,level\n007,1\n010,4\n")
    j = join_labels(rec, f)
    assert j.matched_by == "clip_id" and dict(zip(j.frame["clip_id"], j.frame["level"])) == {
        "007": 1,
        "010": 4,
    }


def test_pairs_file_ids_are_text(recordings, tmp_path):
    rec = recordings.assign(recording_id=["0001", "0002", "0003", "0004"])
    f = tmp_path / "pairs.csv"
    f.write_text("a,b,a_better\n0001,0002,1\n0003,0004,0\n")
    p = read_pairs(f, rec)
    assert p["a"].tolist() == ["0001", "0003"] and p["a_better"].tolist() == [True, False]
