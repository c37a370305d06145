"""The push endpoint: POST /companies/{merchant_id}/push/{data type}.

A partner sends Codat Commerce records of one data type as
`{"records": [...]}` (at most `MAX_RECORDS`). The body is read under its own
limit, `PUSH_MAX_BODY_BYTES` (after gunzip when sent with
`Content-Encoding: gzip`), so that 5,000 realistic orders fit while every
other endpoint keeps Django's low `DATA_UPLOAD_MAX_MEMORY_SIZE`. Each record
is then judged on its own (`commerce_sync.inbound.validation`): refused
records are reported by index and id with the field and the reason, the
others stored. What cannot be read at all is a 4xx naming the limit: 413
for a body over the limit, 415 for an encoding other than gzip, 400 for
JSON that is malformed, nested more than the parser goes, or not an object
with a `records` array.
"""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import Http404
from django.http.request import UnreadablePostError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_sync.api.views import PartnerApiView
from commerce_sync.core.selectors import merchant_get
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.inbound.services import DATA_TYPES, MAX_RECORDS, pushed_records_store
from commerce_sync.inbound.validation import MAX_DEPTH, shown

# Integers longer than this are read as Decimal, so that one absurd number
# is that record's problem ("must be below 10^15") instead of Python's
# 4,300-digit conversion limit failing the whole body.
_LONGEST_INT = 30


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class EncodingNotSupported(APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = "Send the body as it is or with Content-Encoding: gzip."
    default_code = "unsupported_encoding"


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"The request body is larger than {limit:,} bytes (PUSH_MAX_BODY_BYTES, after gunzip): "
        f"send fewer records per request."
    )


def push_body_read(request: Request) -> None:
    """Read the raw body under `PUSH_MAX_BODY_BYTES`, gunzip it when sent
    with `Content-Encoding: gzip` (the decompressed size counts, so a small
    bomb is refused too), and leave it as the request's body for the parser
    and the idempotency fingerprint. Raises BodyTooLarge (413),
    EncodingNotSupported (415) or ParseError (400, a broken gzip stream)."""
    http = request._request
    limit = settings.PUSH_MAX_BODY_BYTES
    try:
        declared = int(http.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)  # refused before reading a byte
    try:
        raw = http.read(limit + 1)
    except (OSError, UnreadablePostError) as error:
        raise ParseError(f"The request body could not be read ({error}).") from None
    if len(raw) > limit:
        raise _too_large(limit)
    encoding = http.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)  # gzip header and trailer
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error as error:
            raise ParseError(f"The body is not valid gzip ({error}).") from None
        if len(raw) > limit or inflater.unconsumed_tail:
            raise _too_large(limit)
        if not inflater.eof:
            raise ParseError("The gzip body ends early: send the whole stream.")
    elif encoding not in ("", "identity"):
        raise EncodingNotSupported(
            f"Content-Encoding {shown(encoding)!r} is not supported: send gzip or no encoding."
        )
    http._body = raw  # what `request.body` and DRF's parser read from here on


def _constant(name: str) -> Decimal:
    """NaN and Infinity as Decimals: the record holding one is refused by
    validation ("must be a finite number"), the others are kept."""
    return Decimal(name)


def _integer(text: str) -> int | Decimal:
    return int(text) if len(text) <= _LONGEST_INT else Decimal(text)


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent beyond Decimal's own range
        raise ParseError(
            f"JSON parse error - the number {shown(text)} is out of any range: "
            "amounts are below 10^15"
        ) from None


class PushJSONParser(parsers.JSONParser):
    """JSON with every non-integer number an exact Decimal (money never a
    float); NaN, Infinity and very long integers kept for validation to
    name; nesting deeper than the parser's recursion a 400 naming it."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return {}
        try:
            return json.loads(
                stream.read(),
                parse_float=_decimal,
                parse_int=_integer,
                parse_constant=_constant,
            )
        except RecursionError:
            raise ParseError(
                "JSON parse error - nested too deeply for the parser (about 1,000 levels); "
                f"a record may nest objects and arrays at most {MAX_DEPTH} levels."
            ) from None
        except ValueError as error:  # also UnicodeDecodeError: not UTF-8
            raise ParseError(f"JSON parse error - {shown(str(error), 200)}") from None


class PushRecordsSerializer(serializers.Serializer):
    """The body of a push: Codat Commerce records of one data type."""

    records = serializers.ListField(child=serializers.DictField(), max_length=MAX_RECORDS)


class PushResultSerializer(serializers.Serializer):
    """What a push stored: counts, and each refused record by index and id."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    stale = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())
    staleRecords = serializers.ListField(child=serializers.DictField())


class PushRecordsView(PartnerApiView):
    """POST /companies/{merchant_id}/push/{data type}: {"records": [...]}, up to 5,000."""

    parser_classes = [PushJSONParser]

    def check_throttles(self, request: Request) -> None:
        # The last step before `PartnerApiView.initial` fingerprints the body
        # for an Idempotency-Key: authenticated and within the rate, the body
        # is read here under the push limit rather than Django's global one.
        super().check_throttles(request)
        push_body_read(request)

    @extend_schema(
        operation_id="push-commerce-records",
        tags=["Push"],
        request=PushRecordsSerializer,
        responses={200: PushResultSerializer},
        parameters=[
            OpenApiParameter("merchant_id", str, OpenApiParameter.PATH, description="Company id"),
            OpenApiParameter(
                "data_type",
                str,
                OpenApiParameter.PATH,
                enum=sorted(DATA_TYPES),
                description="The kind of record pushed",
            ),
        ],
    )
    def post(self, request: Request, merchant_id: str, data_type: str) -> Response:
        kind = DATA_TYPES.get(data_type)
        if kind is None:
            raise Http404
        partner = request.user.partner
        merchant = merchant_get(merchant_id=merchant_id, partner=partner)
        if merchant is None:  # another partner's merchant is indistinguishable from none
            raise Http404
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"body": "Send a JSON object with a records array."})
        unknown = sorted(shown(str(name)) for name in body if name != "records")
        if unknown:
            raise ValidationError(
                {name: "Unknown field; send only records." for name in unknown[:10]}
            )
        records = body.get("records")
        if not isinstance(records, list):
            raise ValidationError({"records": "Send a JSON object with a records array."})
        if len(records) > MAX_RECORDS:
            raise ValidationError({"records": f"At most {MAX_RECORDS} records per request."})
        result = pushed_records_store(
            merchant=merchant, kind=kind, records=records, actor=partner_actor(partner.slug)
        )
        return Response(result.as_json(), status=status.HTTP_200_OK)
