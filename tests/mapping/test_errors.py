"""How the engine quotes bad input in its messages and words a refusal."""

from __future__ import annotations

from mapping.errors import Issue, MappingError, shown


def test_a_value_is_quoted_whole_up_to_forty_characters_then_cut_short():
    forty = "x" * 38  # repr adds the quotes: 40 characters
    assert shown(forty) == repr(forty)
    assert shown("y" * 39) == "'" + "y" * 36 + "..."  # 41 characters: 37 kept, then ...
    assert len(shown("z" * 5000)) == 40
    assert shown(None) == "None"


def test_a_refusal_reads_as_all_its_problems_in_one_sentence():
    error = MappingError(
        [Issue("InvalidPeriod", "The period ends first"), Issue("InvalidTimeZone", "Unknown zone")]
    )
    assert str(error) == "The period ends first; Unknown zone"
