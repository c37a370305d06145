#!/usr/bin/env bash
# Serve the web app with a django-q2 cluster beside it; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python manage.py qcluster &
cluster=$!
trap 'kill "$cluster" 2>/dev/null || true' EXIT INT TERM
echo "Serving http://127.0.0.1:8000 (admin at /admin/, portal at /portal/); Ctrl-C to stop"
.venv/bin/python manage.py runserver 127.0.0.1:8000 --noreload
