"""Partner API views: thin callers of the services."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from django.http.request import RawPostDataException
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_sync.api.authentication import PartnerApiKeyAuthentication
from commerce_sync.api.throttling import PartnerRateThrottle
from commerce_sync.idempotency.models import IdempotencyKey
from commerce_sync.idempotency.services import (
    IdempotencyConflict,
    idempotency_claim,
    idempotency_complete,
)


class DecimalJSONParser(parsers.JSONParser):
    """JSON with every non-integer number as an exact Decimal (money never a float)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return json.loads(stream.read(), parse_float=Decimal)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None


IDEMPOTENCY_HEADER = "Idempotency-Key"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class _Replay(Exception):
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code, self.body = status_code, body


def request_fingerprint(request: Request) -> str:
    """sha256 of the method, path and body bytes: what "the same request" means."""
    try:
        body = request.body
    except RawPostDataException:  # already parsed: its canonical JSON
        body = json.dumps(request.data, sort_keys=True, default=str).encode()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


class PartnerApiView(APIView):
    """Base of every partner API view: API-key authentication, a limit per
    partner (`PartnerRateThrottle`), exact decimals, and `Idempotency-Key`
    on every POST.

    Idempotency: a POST carrying `Idempotency-Key` (1 to 255 printable
    characters) is answered once; a repeat of the same method, path and body
    with that key within `IDEMPOTENCY_KEY_TTL_HOURS` gets the stored status
    and body again (header `Idempotent-Replayed: true`) without anything
    being done again. The same key with another request, or while its first
    request is unanswered, gets 409. Keys are per partner. Server errors
    are not stored, so they can be retried under the same key."""

    authentication_classes = [PartnerApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [DecimalJSONParser]
    throttle_classes = [PartnerRateThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authenticated, allowed, throttled
        self._idempotency: IdempotencyKey | None = None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or key is None:
            return
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise ValidationError(
                {IDEMPOTENCY_HEADER: "Send 1 to 255 printable characters, e.g. a UUID."}
            )
        try:
            claim = idempotency_claim(
                partner=request.user.partner, key=key, fingerprint=request_fingerprint(request)
            )
        except IdempotencyConflict as error:
            raise Conflict(error.message) from None
        if claim.replay is not None:
            raise _Replay(*claim.replay)
        self._idempotency = claim.record

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            response = Response(exc.body, status=exc.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency", None)
        if record is not None:
            self._idempotency = None
            idempotency_complete(
                record=record,
                status_code=response.status_code,
                body=getattr(response, "data", None),
            )
        return response
