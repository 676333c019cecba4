"""embedstore.tables: the one table reader of metadata sidecars and label files, edge case by edge case."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from embedstore.errors import ConfigError
from embedstore.tables import IDENTIFIER_COLUMNS, read_table


def write(tmp_path, name: str, data: str | bytes):
    p = tmp_path / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")
    return p


def refused(path, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        read_table(path, **kw)
    assert str(path.name) in str(e.value) or "not found" in str(e.value)
    return e.value


def records(df: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


# ------------------------------------------------------------------------------------------------ files
def test_missing_file_folder_and_unknown_suffix(tmp_path):
    e = refused(tmp_path / "labels.csv", what="label file")
    assert "label file not found" in str(e)
    (tmp_path / "dir.csv").mkdir()
    assert "not a file" in str(refused(tmp_path / "dir.csv"))
    e = refused(write(tmp_path, "t.xlsx", "x"))
    assert ".parquet" in str(e) and e.hint


def test_every_format_reads_the_same_table(tmp_path):
    want = [{"id": "001", "y": 1.5}, {"id": "002", "y": 2.0}]
    write(tmp_path, "t.csv", "id,y\n001,1.5\n002,2.0\n")
    write(tmp_path, "t.txt", "id,y\n001,1.5\n002,2.0\n")
    write(tmp_path, "t.tsv", "id\ty\n001\t1.5\n002\t2.0\n")
    write(tmp_path, "t.json", json.dumps(want))
    write(tmp_path, "m.json", json.dumps({"001": {"y": 1.5}, "002": {"y": 2.0}}))
    write(tmp_path, "t.jsonl", "\n".join(json.dumps(r) for r in want) + "\n")
    pd.DataFrame({"id": [1, 2], "y": [1.5, 2.0]}).to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.txt", "t.tsv", "t.json", "m.json", "t.jsonl"):
        assert records(read_table(tmp_path / name)) == want, name
    # a Parquet integer id is text too (its digits)
    assert records(read_table(tmp_path / "t.parquet")) == [{"id": "1", "y": 1.5}, {"id": "2", "y": 2.0}]


def test_an_empty_file_or_a_table_without_rows_is_refused(tmp_path):
    assert "empty" in str(refused(write(tmp_path, "e.csv", "")))
    assert "no rows" in str(refused(write(tmp_path, "h.csv", "id,y\n")))
    assert "no rows" in str(refused(write(tmp_path, "e.json", "[]")))
    assert "no rows" in str(refused(write(tmp_path, "e.jsonl", "\n\n")))


# ------------------------------------------------------------------------------------------------ encoding
def test_utf8_with_or_without_bom_and_nothing_else(tmp_path):
    bom = "\ufeffid,title\nc1,Études\n".encode()
    assert list(read_table(write(tmp_path, "bom.csv", bom)).columns) == ["id", "title"]
    assert read_table(write(tmp_path, "bom.json", '\ufeff[{"id": "a"}]'.encode()))["id"].tolist() == ["a"]
    e = refused(write(tmp_path, "latin1.csv", "id,title\nc1,Études\n".encode("latin-1")))
    assert "not UTF-8" in str(e) and "0xc9" in str(e) and "UTF-8" in e.hint
    refused(write(tmp_path, "latin1.jsonl", '{"id": "É"}\n'.encode("latin-1")))


# ------------------------------------------------------------------------------------------------ delimiters
def test_delimiter_is_sniffed_from_the_header(tmp_path):
    semi = read_table(write(tmp_path, "excel.csv", "id;level\na;3\nb;4\n"))
    assert list(semi.columns) == ["id", "level"] and semi["level"].tolist() == [3, 4]
    tab_in_csv = read_table(write(tmp_path, "tab.csv", "id\tlevel\na\t3\n"))
    assert list(tab_in_csv.columns) == ["id", "level"]
    comma_in_tsv = read_table(write(tmp_path, "comma.tsv", "id,level\na,3\n"))
    assert list(comma_in_tsv.columns) == ["id", "level"]
    one_column = read_table(write(tmp_path, "ids.csv", "id\na\nb\n"))
    assert one_column["id"].tolist() == ["a", "b"]
    # the suffix's own delimiter wins; other characters stay in the values
    kept = read_table(write(tmp_path, "k.csv", "id,note\na,x;y|z\n"))
    assert kept["note"].tolist() == ["x;y|z"]
    e = refused(write(tmp_path, "amb.csv", "id;a|b\nx;1|2\n"))
    assert "';'" in str(e) and "'|'" in str(e)


# ------------------------------------------------------------------------------------------------ columns
def test_duplicate_column_names_are_refused(tmp_path):
    e = refused(write(tmp_path, "d.csv", "id,y,y\na,1,2\n"))
    assert "'y'" in str(e)
    e = refused(write(tmp_path, "d.json", '[{"id": "a", "y": 1, "y": 2}]'))
    assert "duplicate key 'y'" in str(e)
    e = refused(write(tmp_path, "d.jsonl", '{"id": "a"}\n{"id": "b", "id": "c"}\n'))
    assert "line 2" in str(e)
    assert "duplicate key 'x1'" in str(refused(write(tmp_path, "m.json", '{"x1": {"y": 1}, "x1": {"y": 2}}')))


def test_blank_column_names(tmp_path):
    # a trailing delimiter on every line: an empty column without a name, dropped
    df = read_table(write(tmp_path, "trail.csv", "id,y,\na,1,\nb,2,\n"))
    assert list(df.columns) == ["id", "y"]
    # a column holding values but no name (a pandas index written by to_csv) is refused
    e = refused(write(tmp_path, "index.csv", ",id,y\n0,a,1\n1,b,2\n"))
    assert "column 1" in str(e) and "index=False" in e.hint


def test_rows_with_more_fields_than_the_header_are_refused(tmp_path):
    # pandas would silently make the first column an index
    e = refused(write(tmp_path, "wide.csv", "id,y\na,1,2\nb,3,4\n"))
    assert "more fields" in str(e)
    e = refused(write(tmp_path, "ragged.csv", "id,y\na,1\nb,1,2\n"))
    assert "line 3" in str(e)
    # fewer fields leave the rest missing (sparse rows)
    assert records(read_table(write(tmp_path, "short.csv", "id,y\na\nb,2\n"))) == [
        {"id": "a", "y": None},
        {"id": "b", "y": 2.0},
    ]


# ------------------------------------------------------------------------------------------------ identifiers
def test_identifier_columns_are_verbatim_text(tmp_path):
    assert {
        "id",
        "clip_id",
        "path",
        "audio",
        "piece_id",
        "performer_code",
        "recording_id",
    } <= IDENTIFIER_COLUMNS
    df = read_table(
        write(
            tmp_path, "ids.csv", "clip_id,performer_code,piece_id,score\n007,NA,1,NA\nNone,Na,2,3\n,x,3,4\n"
        )
    )
    assert df["clip_id"].tolist()[:2] == ["007", "None"] and pd.isna(df["clip_id"].iloc[2])
    assert df["performer_code"].tolist() == ["NA", "Na", "x"]
    assert df["piece_id"].tolist() == ["1", "2", "3"]
    # other columns keep pandas' usual missing markers and numeric types
    assert pd.isna(df["score"].iloc[0]) and df["score"].iloc[1] == 3.0
    js = read_table(write(tmp_path, "ids.jsonl", '{"id": "001", "y": 1}\n{"id": 2, "y": 2}\n'))
    assert js["id"].tolist() == ["001", "2"]  # JSON lines are not re-typed by pandas
    e = refused(write(tmp_path, "float_id.json", '[{"id": 1.5}]'))
    assert "id=1.5" in str(e)
    assert read_table(write(tmp_path, "extra.csv", "A,y\n01,1\n"), text_columns=["a"])["A"].tolist() == ["01"]


# ------------------------------------------------------------------------------------------------ types
def test_sparse_records_leave_missing_values(tmp_path):
    df = read_table(write(tmp_path, "s.jsonl", '{"id": "a", "y": 1}\n\n{"id": "b", "z": true}\n'))
    assert list(df.columns) == ["id", "y", "z"]
    assert records(df) == [{"id": "a", "y": 1.0, "z": None}, {"id": "b", "y": None, "z": True}]


def test_a_json_column_of_mixed_kinds_is_refused(tmp_path):
    e = refused(
        write(tmp_path, "m.json", '[{"id": "a", "y": 1}, {"id": "b", "y": null}, {"id": "c", "y": "x"}]')
    )
    assert "'y'" in str(e) and "number (row 1)" in str(e) and "text (row 3" in str(e)
    refused(write(tmp_path, "b.jsonl", '{"id": "a", "ok": true}\n{"id": "b", "ok": 1}\n'))
    refused(write(tmp_path, "n.jsonl", '{"id": "a", "v": [1, 2]}\n{"id": "b", "v": 3}\n'))
    # integers and floats are both numbers; nested values of one kind are fine
    df = read_table(
        write(tmp_path, "ok.jsonl", '{"id": "a", "y": 1, "v": [1]}\n{"id": "b", "y": 2.5, "v": [2, 3]}\n')
    )
    assert df["y"].tolist() == [1.0, 2.5] and df["v"].tolist() == [[1], [2, 3]]


# ------------------------------------------------------------------------------------------------ JSON layout
def test_json_layouts(tmp_path):
    df = read_table(write(tmp_path, "m.json", '{"x1": {"y": 1}, "x2": 3}'))
    assert records(df) == [{"id": "x1", "y": 1.0, "value": None}, {"id": "x2", "y": None, "value": 3.0}]
    assert read_table(tmp_path / "m.json", key_column="name")["name"].tolist() == ["x1", "x2"]
    # a record may repeat its key, not contradict it
    assert read_table(write(tmp_path, "same.json", '{"x1": {"id": "x1", "y": 1}}'))["id"].tolist() == ["x1"]
    e = refused(write(tmp_path, "clash.json", '{"x1": {"id": "zz"}}'))
    assert "x1" in str(e) and "zz" in str(e)
    assert e.hint
    refused(write(tmp_path, "list.json", "[1, 2]"))
    refused(write(tmp_path, "scalar.json", "3"))
    assert "line 2" in str(refused(write(tmp_path, "bad.jsonl", '{"id": "a"}\n{"id": \n')))
    assert "line 1 is not a JSON object" in str(refused(write(tmp_path, "arr.jsonl", "[1]\n")))
    refused(write(tmp_path, "bad.json", "{oops"))


def test_damaged_parquet_is_refused(tmp_path):
    e = refused(write(tmp_path, "t.parquet", b"PAR1 not really"))
    assert "cannot read table" in str(e)
