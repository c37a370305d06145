"""Schemathesis over the push operation alone, with more cases than the
all-operations run gives it: generated bodies (valid and invalid by the
description) posted for every data type with the real company id. No 5xx,
every status documented, every body in its documented shape."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.api import test_schemathesis as base
from tests.api.test_schemathesis import api_schema  # noqa: F401  (the fixture)

# Per mode (valid, invalid); a deep run sets SCHEMATHESIS_PUSH_EXAMPLES
# (`make test-deep`: 300).
PUSH_EXAMPLES = int(os.environ.get("SCHEMATHESIS_PUSH_EXAMPLES", "40"))


def test_the_push_operation_never_answers_a_server_error(api_schema, monkeypatch):  # noqa: F811
    monkeypatch.setattr(base, "MAX_EXAMPLES", PUSH_EXAMPLES)
    (operation,) = [
        result.ok() for result in api_schema.get_all_operations() if "/push/" in result.ok().path
    ]
    statuses: Counter[int] = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        try:
            base._run(operation, mode, api_schema.hooks, statuses)
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE
    assert not {status for status in statuses if status >= 500}, statuses
    assert statuses[200] > 0, statuses  # some cases reached the store, not only refusals
