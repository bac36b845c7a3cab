"""The grammar tells plates apart by where the recogniser put the gaps, where characters alone cannot.

On a plate O and 0 are one glyph. A pre-2016 Osh-region plate ``O 4007 DX`` read ``0 4007 DX`` fitted a
2016 legal-entity plate ``04 007 DX`` with no correction at all, a different (and valid) plate: a hotlist
could act on it. The read's gaps (1, 4, 2) are the pre-2016 shape's, and now win.
"""

from __future__ import annotations

import pytest

from koopsuz.domain.plates import parse_plate, vote


@pytest.mark.parametrize(
    ("raw", "text", "fmt"),
    [
        ("0 4007 DX", "O 4007 DX", "pre2016"),  # Osh region before 2016, its O read as a zero
        ("0 2943 eg", "O 2943 EG", "pre2016"),
        ("0 620 MC 26", "O 620 MC 26", "ru"),  # not the Kazakh 062 OMC 26
        ("04 007 DX", "04 007 DX", "legal"),  # the 2016 plate's own gaps keep it a 2016 plate
        ("04007 DX", "04 007 DX", "legal"),  # gaps that fit no shape change nothing
        ("01 234 BSZ", "01 234 BSZ", "private"),
        ("1 234 ABC", "01 234 ABC", "private"),  # the lost leading 0 is still put back
    ],
)
def test_the_reads_gaps_pick_the_shape(raw: str, text: str, fmt: str) -> None:
    p = parse_plate(raw)
    assert p is not None and (p.text, p.format) == (text, fmt)


def test_a_zero_for_the_osh_letter_is_a_correction_and_votes_as_the_old_plate() -> None:
    p = parse_plate("0 4007 DX")
    assert p is not None and p.corrections == 1.0 and p.region == "KG-O"  # never an uncorrected (sure) read
    decided = vote([(p, 0.9), (parse_plate("O 4007 DX"), 0.9)])  # type: ignore[list-item]
    assert decided is not None and decided.plate.text == "O 4007 DX" and decided.reads == 2
