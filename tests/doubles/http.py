"""What every HTTP test double shares: a threaded server on loopback with a
free port, started and stopped as a context manager, and a request handler
that reads and answers JSON without logging each call."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
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


def most_in_window(accepted: list[float], seconds: float | None) -> int:
    """The most arrival times (time.monotonic()) of `accepted` inside any
    window of `seconds` (all of them when None)."""
    if seconds is None:
        return len(accepted)
    times = sorted(accepted)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def harnessed_handler(
    double: Any,
    encode: Any,
    *,
    methods: tuple[str, ...] = ("GET", "POST"),
    before: Any = None,
) -> type[JsonHandler]:
    """The request handler of a strict double: each request goes through
    `double.harness.exchange` (tests/doubles/strict.py) to
    `double.handle(method, path, params, body, authorization)`, which
    returns (status, answer, headers); answers are written with
    `encode(answer) -> bytes`. `double.lose_next_answer`, when set, drops the
    answer of the next POST after it was handled (the write happened; the
    client sees the connection close). `before(handler, method, path,
    query)`, when given, may answer a request itself (returning True), e.g.
    an HTML consent screen outside the harness."""
    from urllib.parse import parse_qs, urlsplit

    from tests.doubles.strict import Request

    class Handler(JsonHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if before is not None and before(self, method, parts.path, query):
                return
            request = Request(method, parts.path, query, self.headers, self.read_body())
            lost = []

            def handle() -> tuple[int, bytes, dict[str, str]]:
                params = {k: v[0] for k, v in query.items()}
                body = request.json() if request.body else None
                status, answer, headers = double.handle(
                    method, parts.path, params, body, self.headers.get("Authorization", "")
                )
                if double.lose_next_answer and method == "POST":
                    double.lose_next_answer = False
                    lost.append(True)
                return status, encode(answer), headers

            status, payload, headers = double.harness.exchange(request, handle)
            if lost:
                return  # the write happened; the connection drops before the answer
            self.reply_raw(status, payload, headers)

    for name in methods:
        setattr(Handler, f"do_{name}", lambda self, name=name: self._serve(name))
    return Handler


class ConsentAndApiHandler(JsonHandler):
    """The GETs of a double that serves both a consent screen and a strict
    API: `/oauth/authorize` is `api_double.screen`'s page
    (tests/doubles/consent.py); any other GET is recorded in
    `api_double.requests` as (path, first value of each query parameter) and
    answered through `api_double.harness.exchange` (tests/doubles/strict.py)
    by `self._answer(request)`, which the subclass defines and which returns
    (status, payload, headers). The subclass sets `api_double`."""

    api_double: Any

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        from tests.doubles.consent import serve_page
        from tests.doubles.strict import Request

        double = self.api_double
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/oauth/authorize":
            flat = {k: v[0] for k, v in query.items()}
            serve_page(self, *double.screen.page(parts.path, flat))
            return
        request = Request("GET", parts.path, query, self.headers, b"")
        double.requests.append((parts.path, {k: v[0] for k, v in query.items()}))
        self.reply_raw(*double.harness.exchange(request, lambda: self._answer(request)))

    def _answer(self, request: Any) -> tuple[int, bytes, dict[str, str]]:
        raise NotImplementedError


def basic_token_grant(
    double: Any,
    form: dict[str, str],
    authorization: str,
    *,
    code_is_good: Callable[[dict[str, str]], bool],
    access_tokens: set[str],
    prefix: str,
    answer: Callable[[str, str], dict[str, Any]],
) -> tuple[int, dict[str, Any]]:
    """The token endpoint of an OAuth double whose app authenticates with
    HTTP Basic (`double.client_id`, `double.client_secret`), under
    `double.lock`. Each form's grant type is logged in `double.token_forms`.
    An authorisation-code grant is good when `code_is_good(form)`; a
    refresh grant when its token is in `double.refresh_tokens` (spent: single
    use). A good grant mints `{prefix}-at-N-0123` and `{prefix}-rt-N-0123`
    (N counts `double.issued`), adds them to `access_tokens` and
    `double.refresh_tokens`, registers both with tests/secrets_guard.py and
    answers (200, `answer(access, refresh)`). Refusals: (401,
    invalid_client), (400, invalid_grant), (400, unsupported_grant_type)."""
    import base64

    from tests import secrets_guard

    expected = base64.b64encode(f"{double.client_id}:{double.client_secret}".encode()).decode()
    with double.lock:
        double.token_forms.append({k: v for k, v in form.items() if k == "grant_type"})
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "authorization_code":
            good = code_is_good(form)
        elif form.get("grant_type") == "refresh_token":
            good = form.get("refresh_token") in double.refresh_tokens
            double.refresh_tokens.discard(form.get("refresh_token", ""))  # single use
        else:
            return 400, {"error": "unsupported_grant_type"}
        if not good:
            return 400, {"error": "invalid_grant"}
        double.issued += 1
        access, refresh = f"{prefix}-at-{double.issued}-0123", f"{prefix}-rt-{double.issued}-0123"
        access_tokens.add(access)
        double.refresh_tokens.add(refresh)
        secrets_guard.register(access, refresh)
        return 200, answer(access, refresh)
