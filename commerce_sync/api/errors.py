"""Every partner API error as Codat's `ErrorMessage` body.

Codat's clients (and its SDK) read failures as JSON with `statusCode`,
`service`, `error`, `correlationId`, optional `validation` (`errors` and
`warnings`, each `itemId`, `message`, `validatorName`), `canBeRetried` and
`detailedErrorCode` (see `components.schemas.ErrorMessage` in Codat's Sync for
Commerce OpenAPI description). The HTTP status is the same as `statusCode`.
This handler turns DRF's exceptions, Django's `Http404`/`PermissionDenied`
and our `ApplicationError`s into that shape, and anything unexpected into a
500 of the same shape (never an HTML page, never a traceback).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    CredentialsRevoked,
    DuplicateSync,
    StatusCode,
    SubscriptionExpired,
)

log = logging.getLogger(__name__)
SERVICE = "CommerceSync"
CORRELATION_HEADER = "X-Correlation-Id"

# The HTTP status an anticipated error answers with; the sync status code
# goes in `detailedErrorCode`.
_APPLICATION_STATUS: dict[type[ApplicationError], int] = {
    ConfigurationError: status.HTTP_400_BAD_REQUEST,
    DuplicateSync: status.HTTP_409_CONFLICT,
    CredentialsRevoked: status.HTTP_400_BAD_REQUEST,
    SubscriptionExpired: status.HTTP_402_PAYMENT_REQUIRED,
}


def correlation_id(request: Any) -> str:
    """The caller's `X-Correlation-Id` (at most 100 characters of it) or a new
    UUID, remembered on the request so that every error of one request
    carries the same id and the response repeats it in the header."""
    existing = getattr(request, "_correlation_id", None)
    if existing:
        return str(existing)
    sent = ""
    if request is not None:
        sent = str(request.headers.get(CORRELATION_HEADER, ""))[:100].strip()
    value = sent if sent.isprintable() and sent else str(uuid.uuid4())
    if request is not None:
        request._correlation_id = value
    return value


def validation_items(detail: Any, prefix: str = "") -> list[dict[str, str | None]]:
    """DRF's nested validation detail flattened to Codat's validation items:
    `itemId` is the dotted path of the field (`mapSettings.outputFormat`,
    `records.3.id`), `message` the problem, `validatorName` the error code."""
    if isinstance(detail, dict):
        items: list[dict[str, str | None]] = []
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                path = prefix or None  # type: ignore[assignment]
            items.extend(validation_items(value, path or ""))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            path = f"{prefix}.{index}" if nested and prefix else (str(index) if nested else prefix)
            items.extend(validation_items(value, path))
        return items
    code = getattr(detail, "code", None)
    return [{"itemId": prefix or None, "message": str(detail), "validatorName": code}]


def error_body(
    *,
    http_status: int,
    error: str,
    request: Any = None,
    errors: Iterable[dict[str, str | None]] | None = None,
    warnings: Iterable[dict[str, str | None]] | None = None,
    can_be_retried: bool = False,
    detailed_error_code: int | None = None,
) -> dict[str, Any]:
    """One `ErrorMessage` JSON object (see the module docstring)."""
    body: dict[str, Any] = {
        "statusCode": http_status,
        "service": SERVICE,
        "error": error,
        "correlationId": correlation_id(request),
        "canBeRetried": "True" if can_be_retried else "False",
        "detailedErrorCode": detailed_error_code
        if detailed_error_code is not None
        else http_status,
    }
    if errors is not None or warnings is not None:
        body["validation"] = {"errors": list(errors or []), "warnings": list(warnings or [])}
    return body


def error_response(*, http_status: int, error: str, request: Any = None, **kwargs: Any) -> Response:
    """A DRF `Response` carrying `error_body(...)` and the correlation id header."""
    response = Response(
        error_body(http_status=http_status, error=error, request=request, **kwargs),
        status=http_status,
    )
    response[CORRELATION_HEADER] = correlation_id(request)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's `EXCEPTION_HANDLER` for the partner API (settings.REST_FRAMEWORK)."""
    request = context.get("request")
    if isinstance(exc, Http404):
        return error_response(
            http_status=404,
            error="Not found: no such resource for this API key. Check the id in the path.",
            request=request,
        )
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1_000_000
        return error_response(
            http_status=413,
            error=f"The request body is larger than {limit} MB: send fewer records per request.",
            request=request,
        )
    if isinstance(exc, exceptions.ValidationError):
        items = validation_items(exc.detail)
        first = items[0]["message"] if items else "Invalid request."
        where = f" ({items[0]['itemId']})" if items and items[0]["itemId"] else ""
        return error_response(
            http_status=400,
            error=f"The request is not valid: {first}{where}",
            request=request,
            errors=items,
            warnings=[],
        )
    if isinstance(exc, exceptions.APIException):
        response = error_response(
            http_status=exc.status_code,
            error=str(exc.detail)
            if not isinstance(exc.detail, dict | list)
            else exc.default_detail,
            request=request,
            can_be_retried=isinstance(exc, exceptions.Throttled),
        )
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            response["Retry-After"] = str(max(1, int(wait + 0.999)))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            view = context.get("view")
            header = view.get_authenticate_header(request) if view is not None else None
            if header:
                response["WWW-Authenticate"] = header
            response.status_code = 401
            response.data["statusCode"] = 401
            response.data["detailedErrorCode"] = 401
        return response
    if isinstance(exc, ApplicationError):
        http_status = _APPLICATION_STATUS.get(type(exc), 500 if not exc.transient else 503)
        for kind, mapped in _APPLICATION_STATUS.items():
            if isinstance(exc, kind):
                http_status = mapped
                break
        return error_response(
            http_status=http_status,
            error=exc.message,
            request=request,
            can_be_retried=exc.transient,
            detailed_error_code=int(exc.status_code),
        )
    log.exception(
        "Unexpected error in the partner API", extra={"correlation_id": correlation_id(request)}
    )
    return error_response(
        http_status=500,
        error="Internal error. Quote the correlationId to support.",
        request=request,
        can_be_retried=True,
        detailed_error_code=int(StatusCode.SERVER_ERROR),
    )


def api_not_found(request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under /api/v1/ that names no operation: Codat's ErrorMessage
    404, never Django's HTML page."""
    body = error_body(
        http_status=404,
        error=f"No operation at {request.path}: see /api/v1/docs/ for the paths.",
        request=request,
    )
    response = JsonResponse(body, status=404)
    response[CORRELATION_HEADER] = body["correlationId"]
    return response
