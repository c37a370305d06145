"""Compile every `locale/*/LC_MESSAGES/django.po` of our apps into its `.mo`
with Babel (pure Python: no gettext needed on the machine). Run by the make
targets; idempotent, and a no-op for catalogues already up to date."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
APPS = ("setup_flow", "portal", "commerce_sync", "connectors")


def compile_all(root: Path = ROOT) -> list[Path]:
    """Compile the stale catalogues; returns the .mo files written. Exits
    non-zero naming the file when a .po cannot be read."""
    written = []
    for app in APPS:
        for po in sorted((root / app).glob("**/locale/*/LC_MESSAGES/*.po")):
            mo = po.with_suffix(".mo")
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            try:
                with po.open("rb") as source:
                    catalog = read_po(source, locale=po.parent.parent.name, abort_invalid=True)
            except Exception as error:
                sys.exit(f"{po}: {error}")
            with mo.open("wb") as target:
                write_mo(target, catalog)
            written.append(mo)
    return written


if __name__ == "__main__":
    for path in compile_all():
        print(f"compiled {path.relative_to(ROOT)}")
