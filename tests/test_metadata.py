"""embedstore.metadata: sidecars joined to audio files by path, file name, stem or id."""

from __future__ import annotations

import pytest

from embedstore.errors import ConfigError
from embedstore.metadata import MetadataIndex


def test_join_by_path_name_and_id(tmp_path):
    (tmp_path / "audio").mkdir()
    side = tmp_path / "meta.csv"
    side.write_text("audio,clip_id,tempo\naudio/a.flac,001,90\nelsewhere/b.flac,002,100\n,c,110\n")
    idx = MetadataIndex.from_file(side, reserved=("tempo",))
    by_path = idx.lookup(tmp_path / "audio" / "a.flac")
    assert by_path == {"audio": "audio/a.flac", "clip_id": "001", "meta_tempo": 90}
    assert idx.lookup(tmp_path / "other" / "b.flac")["clip_id"] == "002"  # by file name
    assert idx.lookup(tmp_path / "c.wav")["meta_tempo"] == 110  # by id = stem; the empty path is missing
    assert idx.lookup(tmp_path / "audio" / "a.flac")["audio"] == "audio/a.flac"
    assert idx.lookup(tmp_path / "zzz.flac") is None


def test_json_mapping_keys_are_names(tmp_path):
    side = tmp_path / "meta.json"
    side.write_text('{"take1": {"room": "hall"}, "take2": {"room": "studio"}}')
    idx = MetadataIndex.from_file(side)
    assert idx.lookup("x/take2.wav") == {"name": "take2", "room": "studio"}


def test_identical_repeated_rows_count_once_differing_ones_are_refused(tmp_path):
    side = tmp_path / "meta.csv"
    side.write_text("path,tempo\na.flac,90\na.flac,90\nb.flac,80\n")
    assert MetadataIndex.from_file(side).lookup(tmp_path / "a.flac")["tempo"] == 90
    side.write_text("path,tempo\na.flac,90\nb.flac,80\na.flac,95\n")
    with pytest.raises(ConfigError) as e:
        MetadataIndex.from_file(side)
    assert "rows 1 and 3" in str(e.value) and e.value.hint
    side.write_text("clip_id,tempo\nx,90\nx,91\n")
    with pytest.raises(ConfigError, match="clip_id='x'"):
        MetadataIndex.from_file(side)


def test_no_join_column_and_unreadable_files_are_clear_errors(tmp_path):
    side = tmp_path / "meta.csv"
    side.write_text("tempo,room\n90,hall\n")
    with pytest.raises(ConfigError) as e:
        MetadataIndex.from_file(side)
    assert "clip_id" in e.value.hint
    with pytest.raises(ConfigError, match="metadata file not found"):
        MetadataIndex.from_file(tmp_path / "missing.csv")
    side.write_bytes("path,room\na.flac,Säle\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        MetadataIndex.from_file(side)
