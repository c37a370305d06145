"""The French catalogue compiled before the flow's tests (as `make` does)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "compile_messages", Path(__file__).resolve().parents[2] / "scripts" / "compile_messages.py"
)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
_module.compile_all()
