"""After `make demo`: the demo ledger must load cleanly in beancount and hold
the synced week; print where to look."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_sync.settings")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from beancount import loader  # noqa: E402
from beancount.core import data  # noqa: E402

from commerce_sync.core.models import Connection, Merchant, SyncRun  # noqa: E402
from commerce_sync.core.services.connections import connection_ledger_path  # noqa: E402
from commerce_sync.core.services.demo import DEMO_EXTERNAL_ID  # noqa: E402

merchant = Merchant.objects.get(external_id=DEMO_EXTERNAL_ID)
ledger = connection_ledger_path(
    connection=merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
)
entries, errors, _ = loader.load_file(str(ledger))
transactions = [e for e in entries if isinstance(e, data.Transaction)]
runs = SyncRun.objects.filter(merchant=merchant)
failed = runs.filter(status=SyncRun.Status.FAILED).count()
for error in errors:
    print(f"ledger error: {error.message}", file=sys.stderr)
print(
    f"\nDemo Café: {runs.count()} sync run(s), {failed} failed; "
    f"{len(transactions)} balanced transactions in {ledger}"
)
print("Look at:")
print("  the admin      http://127.0.0.1:8000/admin/  (make run serves it; user 'admin')")
print("  the portal     http://127.0.0.1:8000/portal/")
print(f"  the ledger     {ledger}")
print(f"  in Fava        .venv/bin/pip install fava && .venv/bin/fava {ledger}")
if errors or failed or not transactions:
    sys.exit(1)
