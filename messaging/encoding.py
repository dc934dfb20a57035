"""SMS text encodings: GSM-7 or UCS-2, segment counts, and stripping Vietnamese marks.

A text that fits the GSM 03.38 default alphabet travels as GSM-7: 160 septets in one
SMS, 153 per part once it is split (the concatenation header takes the rest); the
extension characters (``^{}\\[~]|€`` and form feed) cost two septets each and an
escape pair is never split across parts. Anything else (one Vietnamese letter is
enough) makes the whole text UCS-2: 70 UTF-16 units in one SMS, 67 per part, and a
surrogate pair is never split.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "gsm7"
UCS2 = "ucs2"

SINGLE = {GSM7: 160, UCS2: 70}
PER_PART = {GSM7: 153, UCS2: 67}

# Typographic characters that staff paste from word processors, and their plain
# equivalents, so that a text without marks really is GSM-7.
_PLAIN = str.maketrans(
    {
        "đ": "d",
        "Đ": "D",
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "\u00a0": " ",
    }
)


@dataclass(frozen=True)
class TextInfo:
    encoding: str
    length: int  # septets for GSM-7, UTF-16 units for UCS-2
    segments: int
    per_segment: int

    def as_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "length": self.length,
            "segments": self.segments,
            "per_segment": self.per_segment,
        }


GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    return set(text) <= GSM7_ALL


def _units(text: str, encoding: str) -> list[int]:
    """The cost of each character: septets (GSM-7) or UTF-16 units (UCS-2)."""
    if encoding == GSM7:
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _parts(units: list[int], size: int) -> int:
    """Parts needed when characters are packed greedily and never split."""
    parts, used = 1, 0
    for cost in units:
        if used + cost > size:
            parts += 1
            used = 0
        used += cost
    return parts


def text_info(text: str) -> TextInfo:
    """Encoding, length and number of SMS segments of `text` as it would be sent."""
    chars = set(text)
    encoding = GSM7 if chars <= GSM7_ALL else UCS2
    if encoding == GSM7:
        wide = chars & GSM7_EXTENSION
    else:
        wide = {char for char in chars if ord(char) > 0xFFFF}
    if wide:
        units = _units(text, encoding)
        length = sum(units)
    else:
        units, length = None, len(text)
    if length <= SINGLE[encoding]:
        return TextInfo(encoding, length, 1 if length else 0, SINGLE[encoding])
    per_part = PER_PART[encoding]
    # Without two-unit characters nothing can straddle a boundary.
    segments = _parts(units, per_part) if units else -(-length // per_part)
    return TextInfo(encoding, length, segments, per_part)


@lru_cache(maxsize=512)
def _plain_info(encoding: str, length: int) -> TextInfo:
    if length <= SINGLE[encoding]:
        return TextInfo(encoding, length, 1 if length else 0, SINGLE[encoding])
    per_part = PER_PART[encoding]
    return TextInfo(encoding, length, -(-length // per_part), per_part)


class TemplateMeasure:
    """`text_info` for many renderings of one template, looking only at the values.

    A bulk enqueue measures every rendering; scanning each whole text for its
    alphabet costs more than rendering it. The literal text is scanned once here,
    so a rendering needs only its (short) values checked: when they bring no
    character that changes the alphabet or costs two units, the length alone
    decides, and anything else falls back to the full `text_info`.
    """

    def __init__(self, literal: str):
        chars = set(literal)
        self.encoding = GSM7 if chars <= GSM7_ALL else UCS2
        if self.encoding == GSM7:
            self.plain = not (chars & GSM7_EXTENSION)
        else:
            self.plain = all(ord(char) <= 0xFFFF for char in chars)

    def info(self, text: str, values: Iterable[str]) -> TextInfo:
        if self.plain:
            inserted = "".join(values)
            if self.encoding == GSM7:
                plain = set(inserted) <= GSM7_BASIC
            else:
                plain = inserted.isascii() or max(inserted) <= "\uffff"
            if plain:
                return _plain_info(self.encoding, len(text))
        return text_info(text)


def strip_diacritics(text: str) -> str:
    """Vietnamese text without marks, as telcos send it ("Quý khách" -> "Quy khach").

    Decomposes to NFD and drops the combining marks; đ/Đ are letters of their own
    (no decomposition), so they are mapped to d/D explicitly.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text.translate(_PLAIN))
    stripped = "".join(
        char for char in decomposed if unicodedata.category(char) != "Mn"
    )
    return unicodedata.normalize("NFC", stripped)
