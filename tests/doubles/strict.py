"""The strict harness every vendor double goes through (test code).

A double hands each exchange to its `Harness`:

    status, payload, headers = harness.exchange(request, handle)

The harness holds the request against the vendor's published description
*before* the double's own code sees it (so a malformed body is reported as a
contract violation, never as a crash of the double), answers a refused
request with the vendor's kind of 400 without calling `handle`, and holds the
answer against the description afterwards. On top of the description:

* unknown query parameters and unknown body fields (ones the description
  does not define for that operation) are violations, because vendors
  ignore them silently and a misspelt filter then reads the wrong data;
* each vendor's contract may add a short list of fields its documentation
  says must be sent (`Required`), each with its source.

Every violation is kept on the harness and in a process-wide list; the
autouse fixture `strict_doubles` (tests/conftest.py) fails the test that
caused one, at its teardown. A test that provokes violations on purpose takes them with
`harness.take()` (which empties the list) and asserts on them.

Descriptions are read from ../shared/reference at test time, never copied.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"

# Every live harness in this process; the autouse fixture takes their
# violations after each test.
_LOCK = threading.Lock()
_ACTIVE: weakref.WeakSet[Harness] = weakref.WeakSet()


def take_all() -> list[str]:
    """The violations no test has taken yet, from every live harness, emptied."""
    with _LOCK:
        harnesses = list(_ACTIVE)
    return [v for harness in harnesses for v in harness.take()]


@dataclass
class Request:
    """One HTTP request as a double received it. `query` maps each name to
    all its values; `body` is the raw bytes."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body or b"{}", parse_float=Decimal)


@dataclass(frozen=True)
class Required:
    """Fields the vendor's documentation requires in a request body, beyond
    what its machine-readable description marks required.

    `method`, `path`: the request (path is a regular expression matched in
    full against the path without the server's base). `items`: a dotted
    path to the documents in the body ("Invoices" for `{"Invoices": [...]}`,
    "ManualJournals.JournalLines" for every line of every journal, "" for
    the body itself). `fields`: names each document must carry, a
    dotted name checking a nested field. `source`: where the vendor says so.
    """

    method: str
    path: str
    items: str
    fields: tuple[str, ...]
    source: str

    def problems(self, request: Request, path: str, body: Any) -> list[str]:
        if request.method != self.method or not re.fullmatch(self.path, path):
            return []
        documents: list[Any] = [body]
        for part in filter(None, self.items.split(".")):
            inner = [d.get(part) for d in documents if isinstance(d, dict)]
            documents = [x for each in inner for x in (each if isinstance(each, list) else [each])]
        documents = [d for d in documents if d is not None]
        found = []
        for index, document in enumerate(documents):
            for name in self.fields:
                value: Any = document
                for part in name.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if value in (None, "", [], {}):
                    found.append(
                        f"{self.items or 'body'}[{index}].{name} is required ({self.source})"
                    )
        return found


class Contract:
    """What a vendor accepts and answers; subclasses check one kind of description."""

    vendor = "vendor"

    def request_problems(self, request: Request) -> list[str]:
        raise NotImplementedError

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        raise NotImplementedError

    def describes(self, request: Request, status: int) -> bool:
        """Whether the description defines this status for this request."""
        return True

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        """The vendor-shaped answer to a request that breaks the contract."""
        body = {"error": "invalid_request", "problems": problems}
        return 400, json.dumps(body).encode(), {"Content-Type": "application/json"}


@dataclass(eq=False)
class Harness:
    """The violations of one double; created by the double, registered for
    the autouse fixture."""

    contract: Contract
    violations: list[str] = field(default_factory=list)
    undescribed: list[int] = field(default_factory=list)  # statuses the description lacks
    checked: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        with _LOCK:
            _ACTIVE.add(self)

    def record(self, request: Request, label: str, problems: Iterable[str]) -> None:
        with self.lock:
            self.violations += [
                f"{self.contract.vendor} {request.method} {request.path} {label}: {p}"
                for p in problems
            ]

    def take(self) -> list[str]:
        """The violations so far, emptied: for tests that provoke them on purpose."""
        with self.lock:
            found = list(self.violations)
            self.violations.clear()  # in place: doubles may hand the list out
        return found

    def exchange(
        self, request: Request, handle: Callable[[], tuple[int, bytes, dict[str, str]]]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Check `request`, let the double `handle` it if it holds, check the answer."""
        self.checked += 1
        problems = self.contract.request_problems(request)
        if problems:
            self.record(request, "request", problems)
            return self.contract.refusal(problems)
        status, payload, headers = handle()
        if not self.contract.describes(request, status):
            self.undescribed.append(status)
            return status, payload, headers
        self.record(request, "response", self.contract.response_problems(request, status, payload))
        return status, payload, headers


class HarnessedDouble:
    """Mixed into a double (before `LocalServer`) whose requests pass its
    `harness`: `violations` are the problems the harness recorded."""

    harness: Harness

    @property
    def violations(self) -> list[str]:
        return self.harness.violations


def _short(detail: object) -> str:
    """A schema error's message and where, without the whole instance."""
    message = getattr(detail, "message", None) or str(detail)
    where = "/".join(map(str, getattr(detail, "absolute_path", []) or []))
    return f"{where or '-'}: {message[:300]}"


# -- OpenAPI descriptions -------------------------------------------------------


@cache
def load_description(relative: str) -> dict[str, Any]:
    """A vendor's OpenAPI file under ../shared/reference, parsed once per process."""
    path = REFERENCE / relative
    with path.open() as handle:
        if path.suffix == ".json":
            return json.load(handle)
        return yaml.safe_load(handle)


@cache
def _openapi(relative: str) -> OpenAPI:
    # Several vendors' files fail a strict check of the description itself
    # (Xero: string defaults on booleans); requests and responses are checked.
    return OpenAPI.from_dict(load_description(relative), config=Config(spec_validator_cls=None))


class OpenApiContract(Contract):
    """Requests and responses held against an OpenAPI 3 description with
    openapi-core, plus unknown query parameters and body fields and the
    vendor's `required` list.

    `relative`: the file under ../shared/reference. `origin`: the scheme and
    host of the description's server ("https://api.xero.com"); a double's
    paths carry the server's base path as the vendor's do.
    """

    def __init__(
        self,
        vendor: str,
        relative: str,
        *,
        required: Iterable[Required] = (),
        ignored_query: Iterable[str] = (),
    ) -> None:
        self.vendor = vendor
        self.relative = relative
        self.document = load_description(relative)
        server = urlsplit(self.document["servers"][0]["url"])
        self.origin = f"{server.scheme}://{server.netloc}"
        self.base = server.path.rstrip("/")
        self.required = tuple(required)
        self.ignored_query = set(ignored_query)
        self.routes = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in self.document["paths"]
        ]
        # Literal paths before templated ones: /Invoices/{id} must not take /Invoices/x.
        self.routes.sort(key=lambda route: route[1].count("{"))

    @property
    def spec(self) -> OpenAPI:
        return _openapi(self.relative)

    # -- the description, read directly --

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def operation(
        self, method: str, path: str
    ) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        """(template, path item, operation) for a request path, or None."""
        relative = path.removeprefix(self.base) or "/"
        for pattern, template in self.routes:
            if pattern.match(relative):
                item = self.document["paths"][template]
                operation = item.get(method.lower())
                if operation is not None:
                    return template, item, operation
        return None

    def query_names(self, item: dict[str, Any], operation: dict[str, Any]) -> set[str]:
        names = set()
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = self.resolve(parameter)
            if parameter.get("in") == "query":
                names.add(parameter["name"])
        return names

    def unknown_fields(self, schema: Any, value: Any, where: str) -> list[str]:
        """Every key in `value` its schema does not define (a schema that
        allows additional properties or defines none is open)."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return []
        if isinstance(value, list):
            items = schema.get("items")
            return [
                p
                for index, each in enumerate(value)
                for p in self.unknown_fields(items, each, f"{where}[{index}]")
            ]
        if not isinstance(value, dict):
            return []
        properties, extra = self._properties(schema)
        if not properties and extra is None:
            return []  # a free-form object
        problems = []
        for key, each in value.items():
            if key in properties:
                problems += self.unknown_fields(properties[key], each, f"{where}.{key}")
            elif isinstance(extra, dict):
                problems += self.unknown_fields(extra, each, f"{where}.{key}")
            elif extra is not True:
                problems.append(f"{where}.{key}: not a field the vendor defines here")
        return problems

    def _properties(self, schema: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The properties of a schema and its allOf/oneOf/anyOf parts, and
        its additionalProperties (None when not stated: closed, if it has properties)."""
        properties = dict(schema.get("properties") or {})
        extra = schema.get("additionalProperties")
        for combined in ("allOf", "oneOf", "anyOf"):
            for part in schema.get(combined) or []:
                inner, more = self._properties(self.resolve(part))
                properties.update(inner)
                extra = extra if more is None else more
        return properties, extra

    # -- the checks --

    def _mock(self, request: Request) -> MockRequest:
        return MockRequest(
            self.origin,
            request.method.lower(),
            request.path,
            args={k: v[0] for k, v in request.query.items()},
            headers=dict(request.headers.items()),
            data=request.body or None,
            content_type=request.content_type,
        )

    def request_problems(self, request: Request) -> list[str]:
        found = self.operation(request.method, request.path)
        if found is None:
            return [f"no operation {request.method} {request.path} in the description"]
        _, item, operation = found
        known = self.query_names(item, operation) | self.ignored_query
        problems = [
            f"query parameter {name!r} is not one the vendor defines (known: {sorted(known)})"
            for name in request.query
            if name not in known
        ]
        body: Any = None
        if request.body and request.content_type == "application/json":
            try:
                body = request.json()
            except ValueError as error:
                return [*problems, f"body is not JSON: {error}"]
            content = self.resolve(operation.get("requestBody") or {}).get("content") or {}
            schema = (content.get("application/json") or {}).get("schema")
            if schema is None:
                problems.append("a JSON body where the operation takes none")
            else:
                problems += self.unknown_fields(schema, body, "body")
        relative = request.path.removeprefix(self.base)
        for rule in self.required:
            problems += rule.problems(request, relative, body)
        problems += self._validate(lambda: self.spec.validate_request(self._mock(request)))
        return problems

    def describes(self, request: Request, status: int) -> bool:
        """Vendors answer 401, 429 and 5xx that their descriptions omit."""
        found = self.operation(request.method, request.path)
        responses = (found[2].get("responses") or {}) if found else {}
        return any(k in responses for k in (str(status), f"{status // 100}XX", "default"))

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        response = MockResponse(payload, status_code=status, content_type="application/json")
        return self._validate(lambda: self.spec.validate_response(self._mock(request), response))

    @staticmethod
    def _validate(check: Callable[[], object]) -> list[str]:
        try:
            with warnings.catch_warnings():
                # openapi-core cannot check OAuth 2 security; it says so on each call.
                warnings.simplefilter("ignore")
                check()
        except Exception as error:  # every kind is a finding
            cause = getattr(error, "__cause__", None)
            details = getattr(cause, "schema_errors", None) or [cause or error]
            shown = "; ".join(_short(d) for d in details)
            return [f"{type(error).__name__}: {shown}"]
        return []
