"""After `make demo` / `make run`: the demo ledger must load cleanly in
beancount and hold the synced week; print where to look.

Judges only the sync just run. DEMO_STRICT=0 (`make run`) only warns when it
failed, so the app is served anyway; otherwise (`make demo`) it exits 1.
The checks are `commerce_sync.core.services.demo.demo_check`."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_sync.settings")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from commerce_sync.core.services.demo import demo_check  # noqa: E402

result = demo_check(strict=os.environ.get("DEMO_STRICT", "1") != "0")
for warning in result.warnings:
    print(warning, file=sys.stderr)
print("\n".join(result.lines))
sys.exit(0 if result.ok else 1)
