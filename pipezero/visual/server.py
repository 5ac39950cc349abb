"""The visual mode's web server: one page and its JSON and PNG endpoints, on 127.0.0.1.

Python's own ``http.server`` in a daemon thread (a few requests per second from one page
need nothing more). Endpoints:

- ``/``: the page (:data:`~pipezero.visual.page.PAGE`, no external assets);
- ``/stats.json``: :meth:`RunBoard.snapshot` plus ``frames`` (the environment indices that
  have a picture, with their versions, and ``notes``: why others have none);
- ``/frame/<i>.png``: the latest picture of environment ``i`` (404 before the first, 503
  without Pillow).

Each request to ``/stats.json`` or a frame tells the :class:`FrameTap` that someone watches.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from pipezero.visual.board import RunBoard
from pipezero.visual.frames import PILLOW_MISSING, FrameTap, pillow_available
from pipezero.visual.page import PAGE

__all__ = ["VisualServer", "encode_png"]

logger = logging.getLogger("pipezero.visual")

_FRAME_PATH = re.compile(r"^/frame/(\d+)\.png$")


def encode_png(frame: np.ndarray) -> bytes:
    """``[H, W, 3]`` uint8 as PNG bytes (fast compression: pictures change every second)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="PNG", compress_level=1)
    return out.getvalue()


class VisualServer:
    """Serves a :class:`RunBoard` and a :class:`FrameTap` on ``host:port``.

    Args:
        board: the run's statistics.
        tap: the environments' pictures.
        port: the port to bind; 0 picks a free one (see :attr:`url` once started).
        host: the address to bind; only the local machine by default.
    """

    def __init__(
        self, board: RunBoard, tap: FrameTap, port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"VisualServer: port must be in [0, 65535], got {port!r}")
        self.board = board
        self.tap = tap
        self.host = host
        self.port = port
        self.pillow = pillow_available()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._png_cache: dict[int, tuple[int, bytes]] = {}
        self._png_lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://host:port/`` (the bound port once started)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns :attr:`url`.

        Raises:
            OSError: the port is taken (the message names it).
        """
        if self._http is not None:
            return self.url
        try:
            self._http = ThreadingHTTPServer((self.host, self.port), _handler(self))
        except OSError as exc:
            raise OSError(
                f"visual mode: cannot listen on {self.host}:{self.port} ({exc}); pick another "
                f"--visual-port or 0 for a free one"
            ) from exc
        self._http.daemon_threads = True
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="pipezero-visual",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        http, thread = self._http, self._thread
        self._http = self._thread = None
        if http is None:
            return
        http.shutdown()
        http.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    # ------------------------------------------------------------------ content
    def stats(self) -> dict[str, Any]:
        """The ``/stats.json`` document."""
        self.tap.want()
        out = self.board.snapshot()
        frames = self.tap.latest()
        notes = {str(i): note for i, note in self.tap.notes().items()}
        if not self.pillow:
            notes = {"all": PILLOW_MISSING}
        elif self.tap.disabled:
            notes = {"all": self.tap.disabled}
        out["frames"] = {
            "versions": {str(i): version for i, (version, _) in sorted(frames.items())},
            "notes": notes,
        }
        return out

    def frame_png(self, index: int) -> bytes | None:
        """The latest picture of environment ``index`` as PNG (encoded once per version);
        ``None`` when it has none yet."""
        self.tap.want()
        frame = self.tap.latest().get(index)
        if frame is None:
            return None
        version, pixels = frame
        with self._png_lock:
            cached = self._png_cache.get(index)
            if cached is None or cached[0] != version:
                cached = (version, encode_png(pixels))
                self._png_cache[index] = cached
        return cached[1]


def _handler(server: VisualServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "pipezero-visual"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
            elif path == "/stats.json":
                body = json.dumps(server.stats(), allow_nan=False, default=str).encode()
                self._send(HTTPStatus.OK, "application/json", body)
            elif match := _FRAME_PATH.match(path):
                self._frame(int(match.group(1)))
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

        def _frame(self, index: int) -> None:
            if not server.pillow:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", PILLOW_MISSING.encode())
                return
            png = server.frame_png(index)
            if png is None:
                body = f"no picture of environment {index} yet\n".encode()
                self._send(HTTPStatus.NOT_FOUND, "text/plain", body)
            else:
                self._send(HTTPStatus.OK, "image/png", png)

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("visual: " + format, *args)

    return Handler
