"""Schemathesis over the OpenAPI description the app serves at /api/v1/schema/:
every operation, a bounded number of generated requests each (valid ones
and, where the description constrains something, invalid ones), sent
in-process to the WSGI app with a real partner key. No answer may be a 5xx,
every status must be documented for its operation and every body must match
the schema documented for its status (errors are Codat's ErrorMessage,
documented once for all operations by
`commerce_sync.api.common.error_responses_postprocess`).

Schemathesis cannot guess ids, so a hook swaps the generated path
parameters for the partner's real objects (the demo café, its connection,
a sync it ran, a webhook endpoint and a delivery; DELETE gets spare ones)
in some of the cases. Outbound HTTP is stubbed: webhook hosts resolve to a
public address without DNS and deliveries are answered 204 in-process.

schemathesis's own pytest loader (`schemathesis.pytest.from_fixture`) does
not run under pytest 9 (it sets `Node._nodeid`), so the operations are
driven here with its documented strategies (`APIOperation.as_strategy`) and
Hypothesis, one database for the whole run.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from commerce_sync.core.services.demo import cafe_create, demo_configuration, demo_seed
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.webhooks import services as webhook_services
from commerce_sync.webhooks.models import WebhookDelivery
from commerce_sync.webhooks.services import webhook_endpoint_create, webhook_event_emit
from commerce_sync.wsgi import application
from connectors.partner import ssrf

# Generated cases per operation and mode (valid, invalid): 34 operations,
# about 480 requests in all by default; a deep run sets SCHEMATHESIS_EXAMPLES
# (`make test-deep`: 30, about 1,700 requests).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))
SEED = 20261130
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _real_objects() -> tuple[str, dict[str, list[str]]]:
    """The partner's key (as an Authorization header) and, per path
    parameter name, the real values a case may use."""
    seed = demo_seed(days=3, orders_per_day=4, today=timezone.localdate())
    merchant, partner = seed.merchant, seed.merchant.partner
    _, key = partner_api_key_create(partner=partner, name="schemathesis")
    auth = "Basic " + base64.b64encode(key.encode()).decode()
    # A sync that ran, so the status reads have something to read.
    done = Client().post(
        f"/api/v1/companies/{merchant.pk}/sync/commerce/latest",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert done.status_code == 200, done.content
    # Spares the DELETE cases may remove without starving the other operations.
    spare = cafe_create(
        partner=partner,
        name="Spare Café",
        orders_per_day=1,
        start_date=timezone.localdate(),
        document=demo_configuration(),
        open_ledger=False,
    )
    endpoint, _ = webhook_endpoint_create(partner=partner, url="https://hooks.example.com/a")
    spare_endpoint, _ = webhook_endpoint_create(partner=partner, url="https://hooks.example.com/b")
    webhook_event_emit(partner=partner, type="sync.completed", data={"id": "schemathesis"})
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
    assert delivery is not None
    company = str(merchant.pk)
    return auth, {
        "companyId": [company],
        "company_id": [company],
        "merchant_id": [company],
        "connection_id": [str(merchant.connections.get(platform_key="sandbox").pk)],
        "syncId": [done.json()["commerceSyncId"]],
        "client_id": [partner.slug],
        "platform_key": ["sandbox", "beancount", "xero"],
        "commerce_key": ["sandbox"],
        "accounting_key": ["beancount"],
        "webhook_id": [str(endpoint.pk)],
        "delivery_id": [str(delivery.pk)],
        # DELETE /companies/{company_id} and DELETE /webhooks/{webhook_id}
        "DELETE company_id": [str(spare.pk)],
        "DELETE webhook_id": [str(spare_endpoint.pk)],
    }


@pytest.fixture
def api_schema(transactional_db, settings, tmp_path: Path, monkeypatch):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    # Throttling is tested elsewhere; here it would only turn cases into 429s.
    settings.PARTNER_API_RATE = "1000000/min"
    settings.PARTNER_API_SYNC_RATE = "1000000/min"
    cache.clear()
    public = [ipaddress.ip_address("93.184.216.34")]
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: public)
    monkeypatch.setattr(webhook_services, "_post", lambda url, body, headers: (204, "", ""))
    auth, real = _real_objects()

    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": auth},
            "generation": {"deterministic": True, "no-shrink": True, "database": "none"},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=config)

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        """The parameters as generated, or with every id swapped for a real one."""
        method = context.operation.method.upper() if context.operation else ""
        choices = {}
        for name in path_parameters or {}:
            values = real.get(f"{method} {name}") or real.get(name)
            if values:
                choices[name] = st.sampled_from(values)
        if not choices:
            return st.just(path_parameters)
        return st.one_of(
            st.just(path_parameters),
            st.fixed_dictionaries(choices).map(lambda swapped: {**path_parameters, **swapped}),
        )

    return schema


def _negatable(operation: Any) -> bool:
    """Whether invalid input can be made for `operation`: a body, a query
    parameter or a constrained path parameter (a free-form string cannot be
    invalid, and Hypothesis would search for one in vain)."""
    if operation.body or list(operation.query):
        return True
    return any(
        set(parameter.definition.get("schema", {})) - {"type", "description"}
        for parameter in operation.path_parameters
    )


def _run(operation: Any, mode: GenerationMode, hooks: Any, statuses: Counter[int]) -> None:
    """Up to MAX_EXAMPLES cases of `operation` in `mode`, each checked;
    raises the first failure (unshrunk), counts the statuses answered."""

    @given(case=operation.as_strategy(generation_mode=mode, hooks=hooks))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses[response.status_code] += 1

    call()


def test_every_operation_answers_within_its_documented_schema(api_schema):
    failures: list[str] = []
    answered: dict[str, Counter[int]] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 34  # Codat's 22, companies' get/put/delete, push, webhooks
    for operation in operations:
        statuses = answered.setdefault(operation.label, Counter())
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _negatable(operation):
                continue
            try:
                _run(operation, mode, api_schema.hooks, statuses)
            except Unsatisfiable:
                # Nothing to make invalid (only free-form string parameters).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as error:  # every operation reports, not the first
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)

    # The real ids were used: every operation naming an object in its path
    # reached one (answered something else than 404) at least once.
    never_found = sorted(
        operation.label
        for operation in operations
        if "{" in operation.path and set(answered[operation.label]) <= {404}
    )
    assert never_found == [], {label: dict(answered[label]) for label in never_found}


def test_every_operation_documents_codat_error_messages(client):
    """One hook documents the errors every operation can answer (without it
    schemathesis finds a 404 or 429 the description does not list)."""
    description = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    error = {"$ref": "#/components/schemas/ErrorMessage"}
    for path, operations in description["paths"].items():
        for method, operation in operations.items():
            expected = {"400", "401", "429"} | ({"404"} if "{" in path else set())
            expected |= {"409"} if method == "post" else set()
            for status in expected:
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == error, (method, path, status)
