"""The playground's web server: a Starlette app (``create_app``) and ``serve``, which runs it with uvicorn.

Routes:

    GET  /                         the page (static/index.html); /static/... its script and style
    WS   /ws                       one session per connection: settings and commands in, frames out
    POST /api/{session}/csv        a CSV's bytes (at most csvdata.MAX_BYTES, refused before reading
                                   a body that says it is larger, and cut off while reading one that
                                   does not say); answers its columns
    GET  /api/{session}/download/{model|onnx|script}
    GET  /api/health               {"ok": true, "sessions": n}

Limits: a message from the page is at most ``MAX_MESSAGE`` bytes; at most ``MAX_SESSIONS``
sessions at once; the server answers only requests whose Host is the address it serves (a page
of another site cannot reach it through DNS rebinding) and WebSockets whose Origin is that host
too. Nothing a page sends names a file: uploads are parsed in memory, downloads are written to a
fixed name in the server's own temporary folder, read back and deleted.
"""
import asyncio
import json
import logging
import math
import secrets
import shutil
import tempfile
import urllib.parse
from pathlib import Path

from ..errors import GlassnetError
from ..extras import require
from . import csvdata
from .session import Session

require("starlette", "playground", "the playground's server")
from starlette.applications import Starlette  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402
from starlette.responses import FileResponse, JSONResponse, Response  # noqa: E402
from starlette.routing import Mount, Route, WebSocketRoute  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

STATIC = Path(__file__).parent / "static"
MAX_MESSAGE = 64 * 1024
MAX_SESSIONS = 16
EXPORT_TIMEOUT = 120  # seconds
DOWNLOADS = {"model": ("playground_model.glassnet", "application/octet-stream"),
             "onnx": ("playground_model.onnx", "application/octet-stream"),
             "script": ("playground_model.py", "text/x-python; charset=utf-8")}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
log = logging.getLogger("glassnet.playground")


def create_app(allowed_hosts=LOCAL_HOSTS, max_sessions=MAX_SESSIONS):
    """The app; ``allowed_hosts`` are the Host names it answers (``["*"]`` for any)."""
    folder = Path(tempfile.mkdtemp(prefix="glassnet-playground-"))
    sessions = {}

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": CSP,
                                                            "Cache-Control": "no-store"})

    async def health(request):
        return JSONResponse({"ok": True, "sessions": len(sessions)})

    def find(request):
        return sessions.get(request.path_params["sid"])

    async def upload(request):
        session = find(request)
        if session is None:
            return _error("no such session (reload the page)", 404)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > csvdata.MAX_BYTES):
            return _error(f"the file is larger than {csvdata.MAX_BYTES:,} bytes, the playground's limit", 413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > csvdata.MAX_BYTES:
                return _error(f"the file is larger than {csvdata.MAX_BYTES:,} bytes, the playground's limit", 413)
        try:
            table = await run_in_threadpool(csvdata.read, bytes(body))
        except GlassnetError as error:
            return _error(str(error), 400)
        session.submit(session.set_table, table)
        return JSONResponse(table.describe())

    async def download(request):
        session = find(request)
        kind = request.path_params["kind"]
        if session is None or kind not in DOWNLOADS:
            return _error("no such session or download", 404)
        own = folder / session.sid
        own.mkdir(exist_ok=True)
        try:
            data = await asyncio.wait_for(asyncio.wrap_future(session.request(session.export, kind, own)),
                                          EXPORT_TIMEOUT)
        except (GlassnetError, ImportError) as error:
            return _error(str(error), 400)
        except asyncio.TimeoutError:
            return _error("the export took too long", 503)
        name, media = DOWNLOADS[kind]
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def socket(websocket):
        if not _same_origin(websocket.headers):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        if len(sessions) >= max_sessions:
            await websocket.send_text(json.dumps({"type": "error", "message": f"the playground serves at most "
                                                  f"{max_sessions} tabs at once: close one and reload"}))
            await websocket.close()
            return
        loop = asyncio.get_running_loop()
        outbox, latest, wake = [], [None], asyncio.Event()

        def put(message, is_frame):
            if is_frame:
                latest[0] = message
            else:
                outbox.append(message)
            wake.set()

        def emit(message, is_frame):  # from the session's worker thread
            try:
                loop.call_soon_threadsafe(put, message, is_frame)
            except RuntimeError:  # the loop has closed: the server is stopping
                pass

        sid = secrets.token_hex(16)
        session = Session(sid, emit)
        sessions[sid] = session
        sent = [None, 0]  # the generation and the number of epochs of history the page has

        async def sender():
            while True:
                await wake.wait()
                wake.clear()
                while outbox:
                    await websocket.send_text(_dumps(outbox.pop(0)))
                frame, latest[0] = latest[0], None
                if frame is not None:
                    await websocket.send_text(_dumps(_with_history(frame, sent)))

        await websocket.send_text(json.dumps({"type": "hello", "session": sid}))
        task = asyncio.create_task(sender())
        try:
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    break
                text = received.get("text")
                if text is None:
                    put({"type": "error", "message": "the page sends its messages as JSON text"}, False)
                    continue
                if len(text) > MAX_MESSAGE:
                    put({"type": "error", "message": f"a message of {len(text):,} characters is over the "
                                                     f"limit of {MAX_MESSAGE:,}"}, False)
                    continue
                try:
                    message = json.loads(text)
                except ValueError:
                    put({"type": "error", "message": "a message from the page was not JSON"}, False)
                    continue
                session.handle(message)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            task.cancel()
            session.close()
            sessions.pop(sid, None)
            shutil.rmtree(folder / sid, ignore_errors=True)

    async def lifespan(app):
        yield
        for session in list(sessions.values()):
            session.close()
        shutil.rmtree(folder, ignore_errors=True)

    from contextlib import asynccontextmanager
    routes = [Route("/", index), Route("/api/health", health),
              Route("/api/{sid}/csv", upload, methods=["POST"]),
              Route("/api/{sid}/download/{kind}", download),
              WebSocketRoute("/ws", socket),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    app = Starlette(routes=routes, middleware=middleware, lifespan=asynccontextmanager(lifespan))
    app.state.sessions, app.state.folder = sessions, folder
    return app


def serve(host="127.0.0.1", port=8765, open_browser=True, ready=None):
    """Run the playground until interrupted; open the page in the browser unless ``open_browser`` is false."""
    require("uvicorn", "playground", "the playground's server")
    import uvicorn
    local = host in LOCAL_HOSTS
    app = create_app(allowed_hosts=LOCAL_HOSTS if local else ["*"])
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ws_max_size=4 * MAX_MESSAGE)
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"

    async def announce():
        while not server.started:
            await asyncio.sleep(0.05)
        print(f"glassnet playground: {url}  (Ctrl+C to stop)", flush=True)
        if open_browser:
            import webbrowser
            await run_in_threadpool(webbrowser.open, url)
        if ready is not None:
            ready(url)

    async def main():
        task = asyncio.create_task(announce())
        await server.serve()
        task.cancel()

    asyncio.run(main())


def _same_origin(headers):
    """A WebSocket from the page itself: its Origin (when sent) names the host it connects to."""
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser page (a test client, a script)
    return urllib.parse.urlsplit(origin).netloc == headers.get("host")


def _with_history(frame, sent):
    """The frame with the epochs of loss history the page has not had yet."""
    generation, losses, val = frame.pop("_history")
    n = min(len(losses), len(val))
    if sent[0] != generation:
        sent[0], sent[1] = generation, 0
    start = min(sent[1], n)
    frame["history"] = {"start": start, "loss": losses[start:n], "val_loss": val[start:n]}
    sent[1] = n
    return frame


def _dumps(message):
    return json.dumps(_finite(message), separators=(",", ":"))


def _finite(value):
    """JSON has no NaN or infinity: they go to the page as null (a diverged loss, a huge weight)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _error(message, status):
    return JSONResponse({"error": message}, status_code=status)
