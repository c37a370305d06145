"""What every HTTP test double shares: a threaded server on loopback with a
free port, started and stopped as a context manager, and a request handler
that reads and answers JSON without logging each call."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler with JSON helpers; override `encode` for other encoders."""

    def log_message(self, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json(self) -> Any:
        return json.loads(self.read_body() or b"{}")

    def encode(self, body: Any) -> bytes:
        return json.dumps(body).encode()

    def reply_raw(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
        payload = self.encode(body)
        self.reply_raw(status, payload, headers)
        return payload


class LocalServer:
    """Base of a double: call `super().__init__(handler)` once the state the
    handler reads is set; then `with Double(...) as double:` serves at `double.url`."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        host: str = "127.0.0.1",
        poll_interval: float = 0.5,
    ) -> None:
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.origin

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
