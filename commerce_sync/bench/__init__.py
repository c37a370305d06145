"""Benchmarks, kept out of the product's core: `manage.py bench_mapping` (the
mapping engine on a generated merchant-day, `mapping.py`) and `manage.py
bench_fleet` (many sandbox merchants synced by real workers, `fleet.py`,
against the local HTTP ledger double, `http_ledger_double.py`). Nothing in the
product imports this package."""
