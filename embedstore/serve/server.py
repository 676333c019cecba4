"""Run the ``embedstore serve`` application with uvicorn (loopback only unless told otherwise)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from embedstore import config
from embedstore.errors import ConfigError
from embedstore.serve.app import create_app
from embedstore.store import open_store


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail early, with a hint, when ``host:port`` cannot be bound."""
    if not 0 < int(port) < 65536:
        raise ConfigError(f"port must be between 1 and 65535 (got {port})")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({e.strerror or e})",
                hint=f"another program uses the port? try `embedstore serve --port {int(port) + 1}`",
            ) from None


def run_server(
    store: str | Path,
    *,
    host: str = config.SERVE_HOST,
    port: int = config.SERVE_PORT,
    max_upload_bytes: int = config.SERVE_MAX_UPLOAD_BYTES,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve a store's page and API until interrupted.

    Parameters
    ----------
    store : the store's location (must exist)
    host : address to listen on (``127.0.0.1`` by default: only this machine can connect)
    port : TCP port
    max_upload_bytes : largest query upload accepted
    echo : where the URL and notes are printed
    """
    st = open_store(store)
    check_port(host, port)
    allowed = ["127.0.0.1", "localhost"] if is_loopback(host) else ["*"]
    app = create_app(st, max_upload_bytes=max_upload_bytes, allowed_hosts=allowed)
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(
            "embedstore serve needs uvicorn, which is not installed", hint="pip install 'embedstore[serve]'"
        ) from None
    n = len(st.recordings())
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    echo(f"embedstore: serving {st.uri} ({n} recordings) at http://{shown}:{port}  (Ctrl+C to stop)")
    if not is_loopback(host):
        echo(
            f"note: listening on {host}: anyone who can reach this machine can search and play the collection"
        )
    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)
