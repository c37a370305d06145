#!/usr/bin/env bash
# Serve the web app with a django-q2 cluster beside it, and the demo ledger in
# Fava; Ctrl-C stops all three. PORT (8000) and FAVA_PORT (5000) move them.
set -euo pipefail
cd "$(dirname "$0")/.."
ledger=$(.venv/bin/python manage.py shell -v 0 -c "
from commerce_sync.core.models import Connection, Merchant
from commerce_sync.core.services.connections import connection_ledger_path
from commerce_sync.core.services.demo import DEMO_EXTERNAL_ID
merchant = Merchant.objects.get(external_id=DEMO_EXTERNAL_ID)
print(connection_ledger_path(connection=merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)))
")
.venv/bin/python manage.py qcluster &
cluster=$!
.venv/bin/fava --host 127.0.0.1 --port "${FAVA_PORT:-5000}" "$ledger" &
fava=$!
trap 'kill "$cluster" "$fava" 2>/dev/null || true' EXIT INT TERM
echo "Serving http://127.0.0.1:${PORT:-8000} (admin at /admin/, portal at /portal/) and the ledger in Fava at http://127.0.0.1:${FAVA_PORT:-5000}/; Ctrl-C to stop"
.venv/bin/python manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
