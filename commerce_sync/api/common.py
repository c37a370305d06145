"""Shared by the partner API's views: Codat's paging, dates, links, strict bodies.

Codat's lists (`Companies`, `Connections`, `Integrations`) are one page of
`results` with `PagingInfo`: `pageNumber` (1-based, the `page` parameter),
`pageSize` (the `pageSize` parameter, default 100, 1 to 5000),
`totalResults` and `_links` (`self`, `current`, and `next`/`previous` when
such a page exists), hrefs relative to the server URL as Codat gives them
(`Codat-Sync-Commerce.yaml`, `components.schemas.PagingInfo`,
`components.parameters.page` and `pageSize`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.core.query import QueryError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 5000


class Conflict(APIException):
    """409: the request conflicts with the resource's state (message says how)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def malformed_query(error: QueryError) -> ValidationError:
    """A `QueryError` as the 400 Codat answers (`Malformed-Query`), naming
    the parameter (`query` or `orderBy`) and the problem."""
    parameter = "orderBy" if str(error).startswith("Cannot order") else "query"
    return ValidationError({parameter: str(error)}, code="malformed_query")


def codat_datetime(value: datetime | None) -> str | None:
    """An aware datetime as Codat writes them: UTC, `2024-03-01T12:00:00Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_url(request: Request) -> str:
    """The public base URL for links we hand out: SITE_URL, else this request's host."""
    return settings.SITE_URL or request.build_absolute_uri("/").rstrip("/")


def strict_body(request: Request, allowed: Iterable[str]) -> dict[str, Any]:
    """The JSON object body; 400 naming the field for anything not in
    `allowed` (never silently dropped) or a body that is not an object."""
    data = request.data
    if data is None or data == {}:
        return {}
    if not isinstance(data, dict):
        raise ValidationError({"body": "Send a JSON object."})
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(
            {name: f"Unknown field; send only {', '.join(sorted(allowed))}." for name in unknown}
        )
    return dict(data)


def int_parameter(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The whole-number query parameter `name` (absent or empty: `default`);
    400 naming it when not a whole number from `low` to `high`."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"{name} is a whole number from {low} to {high}."}) from None
    if not low <= value <= high:
        raise ValidationError({name: f"{name} is a whole number from {low} to {high}."})
    return value


def paging_parameters(request: Request) -> tuple[int, int]:
    """(page, pageSize) from the query string; 400 naming the bad one."""
    page = int_parameter(request, "page", 1, 1, 2**31 - 1)
    size = int_parameter(request, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return page, size


def _href(path: str, request: Request, page: int, size: int) -> dict[str, str]:
    params = {"page": page, "pageSize": size}
    for name in ("query", "orderBy"):
        if request.query_params.get(name):
            params[name] = request.query_params[name]
    return {"href": f"{path}?{urlencode(params)}"}


def paged(
    request: Request,
    *,
    path: str,
    items: QuerySet[Any] | Sequence[Any],
    serialize: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `items` in Codat's paged shape; `path` is the list's path
    relative to the server URL (e.g. `/companies`). A queryset is counted and
    sliced in the database (two queries, plus its prefetches)."""
    page, size = paging_parameters(request)
    total = items.count() if isinstance(items, QuerySet) else len(items)
    offset = (page - 1) * size
    rows = list(items[offset : offset + size]) if offset < total else []
    links = {"self": {"href": path}, "current": _href(path, request, page, size)}
    if offset + size < total:
        links["next"] = _href(path, request, page + 1, size)
    if page > 1:
        links["previous"] = _href(path, request, min(page - 1, max(1, -(-total // size))), size)
    return {
        "results": [serialize(row) for row in rows],
        "pageNumber": page,
        "pageSize": size,
        "totalResults": total,
        "_links": links,
    }


# --- Schema-only serializers for the OpenAPI description ------------------------------


class HalRefSerializer(serializers.Serializer):
    href = serializers.CharField()


class LinksSerializer(serializers.Serializer):
    self = HalRefSerializer()
    current = HalRefSerializer()
    next = HalRefSerializer(required=False)
    previous = HalRefSerializer(required=False)


def queried_page(
    request: Request,
    *,
    path: str,
    select: Callable[[str, str], QuerySet[Any]],
    serialize: Callable[[Any], dict[str, Any]],
) -> Response:
    """A Codat list answer: `select(query, orderBy)` with the request's
    parameters, then `paged`. A malformed `query` or `orderBy` is the 400
    `malformed_query` gives."""
    try:
        items = select(
            request.query_params.get("query", ""), request.query_params.get("orderBy", "")
        )
    except QueryError as error:
        raise malformed_query(error) from None
    return Response(paged(request, path=path, items=items, serialize=serialize))


def paged_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A serializer class describing Codat's paged list of `item`."""
    fields = {
        "results": item(many=True),
        "pageNumber": serializers.IntegerField(),
        "pageSize": serializers.IntegerField(),
        "totalResults": serializers.IntegerField(),
        "_links": LinksSerializer(),
    }
    return type(name, (serializers.Serializer,), fields)


class ErrorValidationItemSerializer(serializers.Serializer):
    itemId = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    validatorName = serializers.CharField(allow_null=True)


class ErrorValidationSerializer(serializers.Serializer):
    errors = ErrorValidationItemSerializer(many=True, allow_null=True)
    warnings = ErrorValidationItemSerializer(many=True, allow_null=True)


class ErrorMessageSerializer(serializers.Serializer):
    """Codat's `ErrorMessage` (schema only; `commerce_sync.api.errors` builds it)."""

    statusCode = serializers.IntegerField()
    service = serializers.CharField()
    error = serializers.CharField()
    correlationId = serializers.CharField()
    validation = ErrorValidationSerializer(required=False, allow_null=True)
    canBeRetried = serializers.CharField()
    detailedErrorCode = serializers.IntegerField()


_ERROR_TEXT = {
    400: "The request is not valid (the validation items name the fields).",
    401: "No API key, or an unknown or revoked one.",
    404: "No such resource for this API key.",
    409: "The request conflicts with the resource's state.",
    429: "Too many requests for this API key; retry after the Retry-After header's seconds.",
}


def responses(ok: Any, *errors: int, status_code: int = 200) -> dict[int, Any]:
    """`extend_schema(responses=...)`: `ok` for `status_code`, Codat's
    ErrorMessage for 401 and each of `errors`."""
    from drf_spectacular.utils import OpenApiResponse

    documented: dict[int, Any] = {status_code: ok}
    for code in sorted({401, *errors}):
        documented[code] = OpenApiResponse(ErrorMessageSerializer, description=_ERROR_TEXT[code])
    return documented


ERROR_MESSAGE_REF = {"$ref": "#/components/schemas/ErrorMessage"}


def error_responses_postprocess(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS
    `POSTPROCESSING_HOOKS`): documents, once for every operation, the errors
    any of them can answer as Codat's `ErrorMessage` (the yaml lists such
    responses on each operation): 400 (bad parameters or body), 401 (key),
    429 (throttling), 404 when the path names an object, 409 on POST (an
    `Idempotency-Key` reused with another body). An error an operation
    documents itself keeps its description, and gets the ErrorMessage body
    if it was documented without one."""
    schemas = result.get("components", {}).get("schemas", {})
    if "ErrorMessage" not in schemas:
        raise ValueError("The ErrorMessage component is missing (ErrorMessageSerializer unused?)")
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = [400, 401, 429]
            if "{" in path:
                codes.append(404)
            if method == "post":
                codes.append(409)
            documented = operation.setdefault("responses", {})
            for code in codes:
                documented.setdefault(str(code), {"description": _ERROR_TEXT[code]})
            for code, response in documented.items():
                if code.startswith("4"):
                    response.setdefault(
                        "content", {"application/json": {"schema": ERROR_MESSAGE_REF}}
                    )
            operation["responses"] = dict(sorted(documented.items()))
    return result
