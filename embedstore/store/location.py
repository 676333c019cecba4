"""Where a store lives: a local folder or an object-store URI (``s3://``, ``gs://``, ``az://``), with the options
LanceDB/lance need to reach it, and the local folder that holds the derived caches of a remote store.

Credentials come from the usual environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_ACCOUNT_NAME``, ...),
which lance reads itself, or from explicit ``storage_options`` (``--storage-option key=value`` on the command
line; keys as in lance's object-store configuration: ``aws_endpoint``, ``aws_region``, ``allow_http``, ...).

A remote store's derived FAISS caches live in ``<cache_dir>/remote-stores/<name>-<hash of the URI>/`` and are
verified against the table version, row count and row-key fingerprint before use, like a local store's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from embedstore import config
from embedstore.errors import ConfigError

#: URI schemes handled by lance's object stores.
REMOTE_SCHEMES = ("s3", "s3+ddb", "gs", "gcs", "az", "abfs", "abfss", "memory")
#: Sub-folder of :func:`embedstore.config.cache_dir` for the derived caches of remote stores.
REMOTE_CACHE_FOLDER = "remote-stores"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/+(.*)$")
#: Options applied to every remote store opened in this process (set once by the command line).
_DEFAULT_OPTIONS: dict[str, str] = {}


def store_uri(location: str | Path) -> str:
    """The URI of a store location as a string.

    A URI that went through :class:`pathlib.Path` (``s3:/bucket/x``, as Typer's ``Path`` options give it) gets
    its ``//`` back; anything without a known scheme is returned as given (a local path).
    """
    s = str(location)
    m = _SCHEME.match(s)
    if m and m.group(1).lower() in REMOTE_SCHEMES:
        return f"{m.group(1).lower()}://{m.group(2)}"
    return s


def is_remote(location: str | Path) -> bool:
    """True for an object-store URI (``s3://...``, ``gs://...``, ``az://...``)."""
    m = _SCHEME.match(str(location))
    return bool(m and m.group(1).lower() in REMOTE_SCHEMES)


def parse_storage_options(items: Iterable[str] | None) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{key: value}`` (keys lower-cased, as lance expects them).

    A malformed item is a :class:`ConfigError`.
    """
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"bad storage option {item!r}",
                hint="write key=value, e.g. --storage-option aws_endpoint=http://127.0.0.1:9000",
            )
        out[key.strip().lower()] = value.strip()
    return out


def set_default_storage_options(options: Mapping[str, str] | None) -> None:
    """Options used for every remote store opened afterwards in this process (the command line sets them once)."""
    _DEFAULT_OPTIONS.clear()
    _DEFAULT_OPTIONS.update(options or {})


def storage_options_for(
    location: str | Path, options: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    """The storage options for opening ``location``: the process defaults updated by ``options``.

    ``None`` for a local store, or when there are none (lance then reads the environment).
    """
    if not is_remote(location):
        return None
    merged = {**_DEFAULT_OPTIONS, **(options or {})}
    return merged or None


def remote_cache_dir(location: str | Path) -> Path:
    """Local folder of a remote store's derived caches, keyed by its URI (created when used)."""
    uri = store_uri(location).rstrip("/")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", uri.split("://", 1)[-1])[-48:].strip("_") or "store"
    digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
    return config.cache_dir() / REMOTE_CACHE_FOLDER / f"{name}-{digest}"
