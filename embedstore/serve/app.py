"""The HTTP application of ``embedstore serve`` (FastAPI): the page, a JSON API, audio by recording id.

Routes
    ``GET /`` the page (``static/``, plain JS/CSS shipped in the package; no CDN, no build step).
    ``GET /api/info`` what ``embedstore info --json`` says, plus ``server`` (upload limit, read-only).
    ``GET /api/spaces`` recording-level spaces (the default first) and the metadata columns to colour by.
    ``GET /api/recordings?q=&where=&limit=`` recordings whose names contain every word of ``q``.
    ``GET /api/recordings/{id}`` one recording.
    ``GET /api/search?id=&k=&start=&end=&where=&mode=&any_piece=&space=&exclude_self=`` neighbours.
    ``POST /api/search`` the same, with a multipart ``file`` (audio embedded exactly as ``search --query``).
    ``GET /api/audio/{id}`` the recording's stored file, with HTTP Range (206) so the browser can seek.
    ``GET /api/map?space=&method=`` 2-D coordinates of a space (``pca``, ``umap``, ``tsne``), cached.

Errors
    Every error is JSON ``{"error": one line, "hint": ..., "reason": ...}`` with status 400 (bad filter or
    search), 404 (unknown recording or space), 413 (upload too large), 416 (bad range), 422 (bad parameter,
    or an upload that is not usable audio: ``reason`` is the code ``embedstore rejects`` shows) or 500 (never a
    traceback; the server's log has it).

Safety
    Read-only over the store's tables (only the map cache is written, beside the store). Audio is served by
    recording id only, from the path recorded in the store. Requests must name an allowed host (DNS rebinding).
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures (their types are imported
# inside create_app, where the strings could not be resolved).
import logging
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from embedstore import config
from embedstore.errors import AudioError, ConfigError, EmbedstoreError
from embedstore.serve.catalog import DISPLAY_FIELDS, Catalog, valid_recording_id
from embedstore.serve.maps import METHODS, space_map
from embedstore.serve.queries import Spaces, neighbours
from embedstore.serve.timemap import WindowVectors
from embedstore.store import Store, open_store
from embedstore.utils import jsonable

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

log = logging.getLogger("embedstore.serve")

#: Media types of the audio files the page may play.
MEDIA_TYPES = {
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".webm": "audio/webm",
}
#: Multipart overhead allowed on top of the upload limit (field names, boundaries, small form fields).
FORM_SLACK_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def static_dir() -> Path:
    """Folder of the page's files (``index.html``, ``app.js``, ``style.css``), installed with the package."""
    return Path(str(resources.files("embedstore.serve") / "static"))


def error_status(e: EmbedstoreError) -> int:
    """HTTP status of a library error."""
    if isinstance(e, AudioError | ConfigError):
        return 422
    return 400


def create_app(
    store: Store | str | Path,
    *,
    max_upload_bytes: int = config.SERVE_MAX_UPLOAD_BYTES,
    allowed_hosts: list[str] | None = None,
) -> "FastAPI":
    """The FastAPI application serving one store.

    Parameters
    ----------
    store : an open store or its location (a missing store is a :class:`~embedstore.errors.StoreError`)
    max_upload_bytes : largest uploaded query file accepted (larger: 413)
    allowed_hosts : values of the ``Host`` header accepted (default: ``127.0.0.1``, ``localhost``;
        ``["*"]`` accepts any)

    Returns
    -------
    fastapi.FastAPI
    """
    try:
        from fastapi import FastAPI, Query, Request
    except ImportError as e:
        raise ConfigError(
            f"embedstore serve needs FastAPI and uvicorn ({e.name} is not installed)",
            hint="pip install 'embedstore[serve]'",
        ) from None
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    st = store if isinstance(store, Store) else open_store(store)
    catalog = Catalog(st)
    windows = WindowVectors(st)
    spaces_cache = Spaces(st)
    search_lock = threading.Lock()
    store_name = Path(st.uri).name

    app = FastAPI(title="embedstore", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["127.0.0.1", "localhost"])

    def public(message: str) -> str:
        """One line, no absolute store path."""
        line = (str(message).splitlines() or [""])[0]
        return line.replace(st.uri, store_name)[:400]

    def err(status: int, message: str, *, hint: str | None = None, **extra) -> JSONResponse:
        body = {"error": public(message), "hint": hint and public(hint), **extra}
        return JSONResponse(body, status_code=status)

    class Reject(Exception):
        """Control flow inside this app: answer with an error response."""

        def __init__(self, response: JSONResponse):
            self.response = response

    @app.exception_handler(Reject)
    async def _reject(request: Request, e: Reject):
        return e.response

    @app.exception_handler(EmbedstoreError)
    async def _embedstore_error(request: Request, e: EmbedstoreError):
        extra = {"reason": e.reason} if isinstance(e, AudioError) else {}
        return err(error_status(e), str(e), hint=e.hint, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError):
        parts = []
        for d in e.errors()[:3]:
            where = ".".join(str(x) for x in d.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {d.get('msg', 'invalid')}")
        return err(422, "invalid request: " + "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, e: HTTPException):
        message = {404: "not found", 405: "method not allowed"}.get(e.status_code, str(e.detail))
        return err(e.status_code, message, hint="the page is at / and the API under /api/")

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, e: Exception):
        log.exception("error while answering %s", request.url.path)
        return err(500, "internal error; the server's log has the details")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    # ------------------------------------------------------------------ page and metadata
    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(static_dir() / "index.html", media_type="text/html")

    @app.get("/api/info")
    def info():
        d = jsonable(st.info())
        d["server"] = {"read_only": True, "max_upload_bytes": int(max_upload_bytes)}
        return d

    @app.get("/api/spaces")
    def spaces():
        spaces = spaces_cache.recording_level()
        default = spaces_cache.default().space_id if spaces else None
        df = catalog.frame()
        colour = [c for c in ("piece", "performer", "composer") if _has_column(df, DISPLAY_FIELDS[c])]
        return {
            "default": default,
            "spaces": [
                {
                    "space_id": s.space_id,
                    "setup": s.setup_key,
                    "encoder": s.encoder,
                    "layer": s.layer,
                    "layer_name": s.layer_name,
                    "pooling": s.pooling,
                    "dim": s.dim,
                    "window_s": s.window_s,
                    "hop_s": s.hop_s,
                }
                for s in spaces
            ],
            "colour_by": colour,
            "map_methods": list(METHODS),
            "metadata_columns": [c for c in df.columns if c not in ("path", "content_hash", "added_at")],
        }

    @app.get("/api/recordings")
    def recordings(
        q: str = "",
        where: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 200,
    ):
        rows, total = catalog.find(q, where=where, limit=limit)
        return {"total": total, "recordings": rows}

    def known(recording_id: str) -> dict:
        if not valid_recording_id(recording_id):
            raise Reject(err(422, "not a recording id", hint="ids come from GET /api/recordings"))
        row = catalog.get(recording_id)
        if row is None:
            raise Reject(
                err(404, f"no recording {recording_id!r}", hint="list them with GET /api/recordings")
            )
        return row

    @app.get("/api/recordings/{recording_id}")
    def recording(recording_id: str):
        known(recording_id)
        return catalog.shown(recording_id)

    # ------------------------------------------------------------------ search
    def run_search(**kw) -> dict:
        with search_lock:
            return jsonable(neighbours(st, catalog, windows, spaces=spaces_cache, **kw))

    @app.get("/api/search")
    def search_get(
        id: str,
        k: Annotated[int, Query(ge=1, le=1000)] = 10,
        start: float | None = None,
        end: float | None = None,
        where: str | None = None,
        mode: str = "plain",
        any_piece: bool | None = None,
        space: str | None = None,
        exclude_self: bool = True,
    ):
        known(id)
        return run_search(
            recording_id=id,
            k=k,
            start_s=start,
            end_s=end,
            where=where,
            mode=mode,
            any_piece=any_piece,
            space_id=space,
            exclude_self=exclude_self,
        )

    async def limited_form(request: Request):
        """The multipart form, refusing bodies over the limit (by Content-Length, and while streaming)."""
        limit = int(max_upload_bytes) + FORM_SLACK_BYTES
        too_large = err(
            413,
            f"upload larger than {max_upload_bytes / 2**20:.0f} MB",
            hint="query with a shorter excerpt, or start the server with a larger --max-upload-mb",
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Reject(too_large)
        seen = 0
        receive = request.receive

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise Reject(too_large)
            return message

        form = await Request(request.scope, counting_receive).form(max_files=1, max_fields=20)
        return form, too_large

    @app.post("/api/search")
    async def search_post(request: Request):
        form, too_large = await limited_form(request)
        try:
            return await answer_upload(request, form, too_large)
        finally:
            await form.close()  # removes the spooled upload

    async def answer_upload(request: Request, form, too_large):
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Reject(err(422, "no audio file in the form (field 'file')"))
        if upload.size is not None and upload.size > max_upload_bytes:
            raise Reject(too_large)

        def field(name: str, cast=str, default=None):
            v = form.get(name, request.query_params.get(name))
            if v is None or v == "":
                return default
            try:
                return cast(v)
            except ValueError:
                raise Reject(err(422, f"invalid {name}={str(v)[:40]!r}")) from None

        kw = dict(
            k=field("k", int, 10),
            start_s=field("start", float),
            end_s=field("end", float),
            where=field("where"),
            mode=field("mode", str, "plain"),
            any_piece=field("any_piece", _bool),
            space_id=field("space"),
            exclude_self=field("exclude_self", _bool, True),
        )
        name = Path(upload.filename or "upload").name
        suffix = Path(name).suffix.lower() if Path(name).suffix[1:].isalnum() else ""
        with tempfile.TemporaryDirectory(prefix="embedstore-upload-") as tmp:
            path = Path(tmp) / ("query" + suffix[:8])
            with open(path, "wb") as f:
                while chunk := await upload.read(1 << 20):
                    f.write(chunk)
            try:
                return await run_in_threadpool(run_search, query_path=path, query_name=name, **kw)
            except EmbedstoreError as e:  # name the upload, not the temporary file
                extra = {"reason": e.reason} if isinstance(e, AudioError) else {}
                message = str(e).replace(str(path), name).replace(tmp, "")
                return err(error_status(e), message, hint=e.hint, **extra)

    # ------------------------------------------------------------------ audio and map
    @app.api_route("/api/audio/{recording_id}", methods=["GET", "HEAD"])
    def audio(recording_id: str):
        known(recording_id)
        path = catalog.audio_path(recording_id)
        if path is None:
            return err(404, "the recording's audio file is no longer where it was indexed")
        media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/api/map")
    def map_(space: str | None = None, method: str = "pca"):
        sp = spaces_cache.resolve(space)
        m = space_map(st, sp, method)  # type: ignore[arg-type]
        points = []
        for rid, (x, y) in zip(m.recording_ids, m.xy.tolist()):
            d = catalog.shown(rid)
            if d is not None:
                d.pop("metadata", None)
                points.append({**d, "x": round(x, 5), "y": round(y, 5)})
        return {
            "space": sp.space_id,
            "method": method,
            "method_used": m.method_used,
            "status": m.status,
            "points": points,
        }

    return app


def _bool(v: str) -> bool:
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(v)


def _has_column(df, columns: tuple[str, ...]) -> bool:
    return any(c in df.columns and df[c].notna().any() for c in columns)
