"""The control-character rule behind every stored text field and every password."""

import sys
import unicodedata

import pytest

from service.text import has_control_characters

pytestmark = pytest.mark.sqlite_only


def test_the_control_character_rule_is_unicodes_cc_category_exactly() -> None:
    disagreements = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if has_control_characters(chr(point)) != (unicodedata.category(chr(point)) == "Cc")
    ]
    assert disagreements == []


def test_a_control_character_anywhere_in_long_text_is_found() -> None:
    text = "a" * 4000
    assert not has_control_characters(text)
    assert has_control_characters(text + "\x85")
    assert has_control_characters("\x00" + text)


def test_format_and_private_use_characters_are_not_control_characters() -> None:
    # Zero-width joiner (Cf) in emoji sequences, a private-use glyph (Co).
    assert not has_control_characters("\U0001f469\u200d\U0001f4bb \ue000")
