"""Every literal `{% translate "..." %}` of the flow's templates shows in
French on a French page: a phrase the catalogue lacks, or keeps under a key
the tag never looks up (Django looks a phrase with `%` up as `%%`), would
leak English onto the merchant's page."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po
from django.template import engines
from django.utils import translation

APP = Path(__file__).resolve().parents[2] / "setup_flow"
# A literal phrase, optionally with a `context "..."`; `as`/`noop` forms are skipped.
TAG = re.compile(r'{%\s*translate\s+"([^"]+)"\s*(?:context\s+"([^"]+)"\s*)?%}')


def _phrases() -> set[tuple[str, str | None]]:
    found: set[tuple[str, str | None]] = set()
    for template in sorted((APP / "templates").glob("**/*.html")):
        found |= set(TAG.findall(template.read_text(encoding="utf-8")))
    return {(text, context or None) for text, context in found}


def test_every_template_phrase_renders_in_french() -> None:
    phrases = _phrases()
    assert len(phrases) > 100  # the pattern still finds the flow's phrases
    with (APP / "locale/fr/LC_MESSAGES/django.po").open("rb") as source:
        catalog = read_po(source, locale="fr")
    # Phrases French writes the same way ("Type", "Date"...), kept on purpose.
    same = {
        (m.id.replace("%%", "%"), m.context)
        for m in catalog
        if m.id and m.string and m.id == m.string and not m.fuzzy
    }
    engine = engines["django"]
    english = []
    for text, context in sorted(phrases, key=lambda p: (p[0], p[1] or "")):
        tag = f'{{% translate "{text}"' + (f' context "{context}"' if context else "") + " %}"
        with translation.override("fr"):
            shown = engine.from_string("{% load i18n %}" + tag).render({})
        if shown == text and (text, context) not in same:
            english.append(text)
    assert english == []
