"""A partner's webhook receiver on loopback: records every POST (headers and
body) and answers with the statuses queued in `answers` (then 200). Start it
on a given port to bring a receiver "back" on a URL that was down."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Self

from tests.doubles.http import JsonHandler


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebhookReceiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.answers: list[int] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Self:
        receiver = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Received(headers, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.reply(status, {"ok": 200 <= status < 300})

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
