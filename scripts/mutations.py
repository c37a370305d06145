"""Re-introduce, one at a time, each escape issue 14 lists, run the tests
that should catch it, put the code back, and print the verdicts as JSON.

    DATABASE_URL=postgres://... .venv/bin/python scripts/mutations.py [NAME ...]

Each mutation replaces one exact piece of source text (it must occur exactly
once, so a refactoring that moves it makes the script say so instead of
testing nothing). "killed": the tests failed with the mutation in place;
"survived": they passed, which means the guard is missing. The original file
is always restored, even on Ctrl-C. Exit status 1 if any mutation survived
or could not be applied. Progress goes to stderr; stdout is the JSON alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    escape: str  # what the issue says got through
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "xero-invoice-without-date",
        "Xero invoices sent without Date",
        "connectors/xero/translate.py",
        '        "Contact": {"ContactID": contact},\n        "Date": doc["date"],\n',
        '        "Contact": {"ContactID": contact},\n',
        ("tests/connectors/test_xero.py",),
    ),
    Mutation(
        "xero-journal-without-date",
        "Xero manual journals sent without Date",
        "connectors/xero/translate.py",
        '            "Narration": narration(doc, key),\n            "Date": doc["date"],\n',
        '            "Narration": narration(doc, key),\n',
        ("tests/connectors/test_xero.py",),
    ),
    Mutation(
        "quickbooks-without-txndate",
        "QuickBooks entities sent without TxnDate",
        "connectors/quickbooks/translate.py",
        '        "TxnDate": document["date"],\n',
        "",
        ("tests/connectors/test_quickbooks.py",),
    ),
    Mutation(
        "square-start-time",
        "Square list filter begin_time sent as start_time",
        "connectors/square/client.py",
        '"begin_time": start, "end_time": end, "limit": 100}\n'
        '        return self.pages("GET", "/v2/payments"',
        '"start_time": start, "end_time": end, "limit": 100}\n'
        '        return self.pages("GET", "/v2/payments"',
        ("tests/connectors/test_square.py", "tests/connectors/test_sources_end_to_end.py"),
    ),
    Mutation(
        "square-states-filter",
        "Square order search state_filter sent as states_filter",
        "connectors/square/client.py",
        '"state_filter": {"states": ["COMPLETED"]}',
        '"states_filter": {"states": ["COMPLETED"]}',
        ("tests/connectors/test_square.py", "tests/connectors/test_sources_end_to_end.py"),
    ),
    Mutation(
        "zettle-unknown-parameter",
        "Zettle purchases asked with a parameter the API does not have",
        "connectors/zettle/client.py",
        '            "descending": "false",\n',
        '            "descending": "false",\n            "sort": "asc",\n',
        ("tests/connectors/test_zettle.py",),
    ),
    Mutation(
        "xero-malformed-journal-line",
        "a malformed Xero body (journal line without AccountCode)",
        "connectors/xero/translate.py",
        '            "AccountCode": line["accountRef"]["id"],\n            "Description"',
        '            "Account": line["accountRef"]["id"],\n            "Description"',
        ("tests/connectors/test_xero.py",),
    ),
    Mutation(
        "xero-no-lookup-before-retry",
        "a Xero retry that never looks its keys up (leaning on Idempotency-Key replay)",
        "connectors/xero/adapter.py",
        "            results.update(self._find_in(path, wanted))\n",
        "            results.update({})\n",
        ("tests/connectors/test_xero.py",),
    ),
    Mutation(
        "tokens-logged-after-refresh",
        "access and refresh token logged after a successful refresh",
        "connectors/oauth.py",
        "        data = self._post(self.platform.token_url, form)\n",
        "        data = self._post(self.platform.token_url, form)\n"
        '        __import__("logging").getLogger(__name__).info("refreshed: %s", data)\n',
        ("tests/connectors/test_oauth.py", "tests/connectors/test_xero.py"),
    ),
    Mutation(
        "sync-never-asks-the-target",
        "a sync that never asks the target for the key (find_document) after a crash",
        "commerce_sync/syncs/push.py",
        "    look = item.attempts > 0\n",
        "    look = False\n",
        (
            "tests/core/test_exactly_once.py::test_a_sync_killed_at_any_moment_leaves_nothing_doubled_or_missing",
        ),
    ),
)


def run(mutation: Mutation) -> dict[str, object]:
    path = ROOT / mutation.path
    original = path.read_text()
    verdict: dict[str, object] = {
        "name": mutation.name,
        "escape": mutation.escape,
        "file": mutation.path,
        "tests": list(mutation.tests),
    }
    if original.count(mutation.old) != 1:
        verdict["verdict"] = "not applied (the source text moved)"
        return verdict
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutation.old, mutation.new))
        done = subprocess.run(  # noqa: S603 - our own interpreter and pytest
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    finally:
        path.write_text(original)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    verdict["verdict"] = "killed" if done.returncode != 0 else "survived"
    verdict["seconds"] = round(time.monotonic() - started, 1)
    verdict["first_failure"] = next(
        (line for line in lines if line.startswith(("FAILED", "ERROR"))), None
    )
    verdict["summary"] = lines[-1] if lines else ""
    return verdict


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    results = []
    for mutation in chosen:
        print(f"{mutation.name} ...", file=sys.stderr, flush=True)
        results.append(run(mutation))
        print(f"  {results[-1]['verdict']}", file=sys.stderr, flush=True)
    killed = sum(r["verdict"] == "killed" for r in results)
    print(json.dumps({"killed": killed, "total": len(results), "mutations": results}, indent=2))
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
