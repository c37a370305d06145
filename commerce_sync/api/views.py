"""Partner API views: thin callers of the services."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_sync.api.authentication import PartnerApiKeyAuthentication
from commerce_sync.core.selectors import merchant_get
from commerce_sync.core.services.audit import partner_actor
from commerce_sync.inbound.services import DATA_TYPES, MAX_RECORDS, pushed_records_store


class DecimalJSONParser(parsers.JSONParser):
    """JSON with every non-integer number as an exact Decimal (money never a float)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return json.loads(stream.read(), parse_float=Decimal)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None


class PartnerApiView(APIView):
    authentication_classes = [PartnerApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [DecimalJSONParser]


class PushRecordsView(PartnerApiView):
    """POST /companies/{merchant_id}/push/{data type}: {"records": [...]}, up to 5,000."""

    @extend_schema(
        operation_id="push-records",
        tags=["Push"],
        summary="Push commerce records",
        request={
            "application/json": {
                "type": "object",
                "properties": {"records": {"type": "array", "items": {"type": "object"}}},
                "required": ["records"],
            }
        },
        responses={200: {"type": "object"}},
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
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ValidationError({"records": "Send a JSON object with a records array."})
        if len(records) > MAX_RECORDS:
            raise ValidationError({"records": f"At most {MAX_RECORDS} records per request."})
        result = pushed_records_store(
            merchant=merchant, kind=kind, records=records, actor=partner_actor(partner.slug)
        )
        return Response(result.as_json(), status=status.HTTP_200_OK)
