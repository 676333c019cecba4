"""``embedstore serve``: a web page to explore a store (search, listen side by side, see the map).

Layer 9: uses :mod:`embedstore.search` and :mod:`embedstore.store`; the web stack (FastAPI, uvicorn) is imported
only when an application is built, so importing this package is cheap.

- :func:`~embedstore.serve.app.create_app` builds the application (page, JSON API, audio by recording id);
- :func:`~embedstore.serve.server.run_server` serves it with uvicorn (what the command runs);
- :mod:`~embedstore.serve.catalog`, :mod:`~embedstore.serve.queries`, :mod:`~embedstore.serve.maps` and
  :mod:`~embedstore.serve.timemap` hold the logic, usable without a server.
"""

from __future__ import annotations

from embedstore.serve.app import create_app
from embedstore.serve.server import run_server

__all__ = ["create_app", "run_server"]
