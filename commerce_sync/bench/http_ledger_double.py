"""A local stand-in for an HTTP ledger: an in-memory book behind the same
API, with a configurable answer delay. Used by tests and by `bench_fleet`;
it binds to loopback only."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from mapping.documents import document_account_refs


class LedgerBook:
    def __init__(self, accounts: list[dict[str, str]]) -> None:
        self.lock = threading.Lock()
        self.accounts = {a["id"]: {"status": "Active", **a} for a in accounts}
        self.documents: dict[str, dict[str, Any]] = {}
        self.writes: Counter[str] = Counter()  # real writes per key: must never exceed 1
        # Every PUT per key, including a repeat of a key the book holds (answered
        # 200 and not written again): above 1, the caller sent a document twice.
        self.puts: Counter[str] = Counter()
        # (start, end, key) of every PUT, time.monotonic() seconds: which overlapped.
        self.put_spans: list[tuple[float, float, str]] = []

    def write(self, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if key in self.documents:
                return HTTPStatus.OK, {"id": self.documents[key]["id"]}
            for account in document_account_refs(document):
                if account not in self.accounts:
                    return HTTPStatus.BAD_REQUEST, {"message": f"Account {account} does not exist"}
            if document.get("type") == "journalEntry":
                total = sum(Decimal(line["netAmount"]) for line in document["journalLines"])
                if total:
                    return HTTPStatus.BAD_REQUEST, {
                        "message": f"Journal does not balance by {total}"
                    }
            self.writes[key] += 1
            self.documents[key] = {"id": f"doc-{len(self.documents) + 1}", "document": document}
            return HTTPStatus.CREATED, {"id": self.documents[key]["id"]}


class LedgerDouble:
    """Start with `with LedgerDouble(accounts, delay=0.02) as double:`; the
    API is at `double.url`."""

    def __init__(
        self, accounts: list[dict[str, str]], *, delay: float = 0.0, api_key: str = "bench-key"
    ) -> None:
        self.book = LedgerBook(accounts)
        self.delay = delay
        self.api_key = api_key
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LedgerDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(
                self, *args: object
            ) -> None:  # quiet: benchmarks make thousands of calls
                pass

            def _reply(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {double.api_key}":
                    self._reply(HTTPStatus.UNAUTHORIZED, {"message": "invalid API key"})
                    return False
                time.sleep(double.delay)
                return True

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path == "/accounts":
                    self._reply(HTTPStatus.OK, list(double.book.accounts.values()))
                elif self.path == "/tax-rates":
                    self._reply(HTTPStatus.OK, [])
                elif self.path.startswith("/documents/"):
                    found = double.book.documents.get(
                        unquote(self.path.removeprefix("/documents/"))
                    )
                    if found is None:
                        self._reply(HTTPStatus.NOT_FOUND, {"message": "no such document"})
                    else:
                        self._reply(HTTPStatus.OK, {"id": found["id"]})
                else:
                    self._reply(HTTPStatus.NOT_FOUND, {"message": "no such resource"})

            def do_PUT(self) -> None:
                began = time.monotonic()
                if not self._authorised():
                    return
                key = unquote(self.path.removeprefix("/documents/"))
                if (
                    not self.path.startswith("/documents/")
                    or self.headers.get("Idempotency-Key") != key
                ):
                    self._reply(
                        HTTPStatus.BAD_REQUEST,
                        {"message": "PUT /documents/{key} with Idempotency-Key: key"},
                    )
                    return
                length = int(self.headers.get("Content-Length") or 0)
                document = json.loads(self.rfile.read(length) or b"{}")
                answer = double.book.write(key, document)
                with double.book.lock:
                    double.book.puts[key] += 1
                    double.book.put_spans.append((began, time.monotonic(), key))
                self._reply(*answer)

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                account = json.loads(self.rfile.read(length) or b"{}")
                with double.book.lock:
                    double.book.accounts.setdefault(account["id"], {"status": "Active", **account})
                self._reply(HTTPStatus.CREATED, double.book.accounts[account["id"]])

        return Handler
