"""`embedstore serve` on the command line (start-up checks; the running server is tested in a browser)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from embedstore.cli import app

runner = CliRunner()


def test_help_shows_safe_defaults():
    r = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "127.0.0.1" in r.output and "8765" in r.output and "--max-upload-mb" in r.output


def test_missing_store_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["serve", "--store", str(tmp_path / "nope.lance")])
    assert r.exit_code == 2
    assert "error:" in r.output and "no store" in r.output and "embedstore index" in r.output
    assert "Traceback" not in r.output


def test_busy_port_is_a_clear_error(chroma_store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = runner.invoke(app, ["serve", "--store", chroma_store.uri, "--port", str(port)])
    assert r.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.output and f"--port {port + 1}" in r.output


def test_loopback_detection():
    from embedstore.serve.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("example.org")
