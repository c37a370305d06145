"""A clone on its own (no ../shared beside it): tests that read it are
skipped naming the missing file, unless CI is set (then they fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json
from pathlib import Path

SHARED = Path(__file__).resolve().parents[{depth}] / "shared"
DATA = json.loads((SHARED / "scenarios" / "x.json").read_text())  # at import: collection


def test_reads_it_at_run_time():
    (SHARED / "reference" / "y.yaml").read_text()


def test_needs_nothing_shared():
    assert True
"""


@pytest.mark.parametrize("ci", ["", "1"])
def test_tests_reading_a_missing_shared_folder_skip_or_fail_under_ci(
    tmp_path: Path, ci: str
) -> None:
    # A copy of tests/conftest.py's hooks in a tree whose ../shared is absent.
    clone = tmp_path / "clone"
    (clone / "tests").mkdir(parents=True)
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    hooks = conftest[conftest.index("# Design documents") : conftest.index("@pytest.fixture")]
    (clone / "tests" / "conftest.py").write_text(
        "import os\nimport re\nfrom collections.abc import Iterator\nfrom pathlib import Path\n"
        "import pytest\nfrom django.conf import settings as django_settings\n" + hooks
    )
    (clone / "tests" / "test_collect.py").write_text(PROBE.format(depth=2))
    runtime = PROBE.format(depth=2).replace("DATA = json.loads", "# DATA = json.loads")
    (clone / "tests" / "test_runtime.py").write_text(runtime)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:django",
         "-o", "addopts=", "tests"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1]
    if ci:
        assert done.returncode != 0, done.stdout  # CI never skips them
        assert "FileNotFoundError" in done.stdout and "skipped" not in summary, done.stdout
    else:
        assert done.returncode == 0, done.stdout
        assert "1 passed" in summary and "2 skipped" in summary, done.stdout
        assert f"needs {tmp_path / 'shared' / 'scenarios' / 'x.json'}" in done.stdout
        assert f"needs {tmp_path / 'shared' / 'reference' / 'y.yaml'}" in done.stdout
