"""The Kyrgyz plate grammar: formats, regions, confusions fixed by position, voting, search helpers."""

from __future__ import annotations

import pytest

from koopsuz.domain.plates import (
    Plate,
    char_accuracy,
    edit_distance,
    matches,
    parse_plate,
    plate_pattern,
    vote,
)
from koopsuz.sim.plates import check_plate, is_valid_plate


@pytest.mark.parametrize(
    ("raw", "text", "fmt", "region"),
    [
        ("01 123 ABC", "01 123 ABC", "private", "KG-GB"),
        ("09123abc", "09 123 ABC", "private", "KG-Y"),
        ("02 045 HE", "02 045 HE", "legal", "KG-GO"),
        ("08 777 PT", "08 777 PT", "government", "KG-C"),
        ("06 1234 D", "06 1234 D", "foreign", "KG-O"),
        ("B 1234 AB", "B 1234 AB", "pre2016", "KG-GB"),
        ("E 0001 AA", "E 0001 AA", "pre2016", "KG-GB"),
        ("I 5678 KT", "I 5678 KT", "pre2016", "KG-Y"),
        ("Z 1111 ZZ", "Z 1111 ZZ", "pre2016", "KG-GO"),
        ("S 2020 AB", "S 2020 AB", "pre2016", "KG-C"),
        ("A 3030 XX", "A 3030 XX", "pre2016", "KG-B"),
    ],
)
def test_each_kyrgyz_format(raw: str, text: str, fmt: str, region: str) -> None:
    p = parse_plate(raw)
    assert p is not None and (p.text, p.format, p.region, p.foreign, p.corrections) == (text, fmt, region, False, 0)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("O1 123 ABC", "01 123 ABC"),  # O where the region code wants a digit
        ("01 I23 ABC", "01 123 ABC"),  # I -> 1
        ("01 123 A8C", "01 123 ABC"),  # 8 where a letter belongs -> B
        ("09 S08 KGD", "09 508 KGD"),  # S -> 5 in the number
        ("07 O52 2SB", "07 052 ZSB"),  # O -> 0 in the number, 2 -> Z in the letters
        ("06 121 1Z6", "06 121 IZG"),  # 1 -> I, 6 -> G in the letters
        ("05 8O0 0BS", "05 800 OBS"),  # 0 and O swap places by position
        ("B I234 A8", "B 1234 AB"),  # pre-2016: the number and the letters each fixed
    ],
)
def test_confusions_are_fixed_by_position(raw: str, text: str) -> None:
    p = parse_plate(raw)
    assert p is not None and p.text == text and p.corrections > 0


def test_cyrillic_look_alikes_become_latin() -> None:
    p = parse_plate("01 123 АВС")  # Cyrillic А, В, С
    assert p is not None and p.text == "01 123 ABC" and p.corrections == 0
    assert parse_plate("09 777 РТ").format == "government"  # Cyrillic Р and Т
    assert parse_plate("01 123 ЖЖЖ") is None  # Cyrillic with no Latin twin is not a plate


def test_kg_field_and_stray_edge_characters_are_dropped() -> None:
    assert parse_plate("KG 01 123 ABC").text == "01 123 ABC"  # the left field's "KG" read along
    assert parse_plate("01 123 ABC KG").text == "01 123 ABC"
    assert parse_plate("G01123 ABC").text == "01 123 ABC"  # the flag read as a letter
    assert parse_plate("001 123 ABC").text == "01 123 ABC"
    assert parse_plate("RG03 448 PJD").text == "03 448 PJD"  # the flag and "KG" read as "RG"
    assert parse_plate("4 835 ZGL").text == "04 835 ZGL"  # the region code's 0 lost next to the left field
    assert parse_plate("4 835 ZGL").corrections == 1  # a repair counts as a correction


def test_region_code_outside_01_09_is_not_kyrgyz() -> None:
    assert parse_plate("10 123 ABC") is None
    assert parse_plate("00 123 ABC") is None
    assert parse_plate("X 1234 AB") is None  # X is no region letter of the pre-2016 plates


def test_foreign_plates_are_flagged() -> None:
    kz = parse_plate("123 ABC 02")
    assert kz is not None and (kz.format, kz.country, kz.foreign, kz.region) == ("kz", "KZ", True, None)
    ru = parse_plate("А 123 ВС 777")
    assert ru is not None and (ru.text, ru.format, ru.country, ru.foreign) == ("A 123 BC 777", "ru", "RU", True)
    assert parse_plate("D 123 FG 77") is None  # D, F, G are not Russian plate letters
    assert parse_plate("10 A 123 BC") is None  # an Uzbek plate fits no format ...
    uz = parse_plate("10 A 123 BC", free_text=True)
    assert uz is not None and (uz.text, uz.format, uz.foreign) == ("10A123BC", "free", True)  # ... kept as free text


@pytest.mark.parametrize(
    "raw", ["", "   ", "hello", "KOOPSUZ", "1234", "STOP", "12345678901234", "20 345 ABC", "D 123 FG 77", "!!!"]
)
def test_garbage_is_no_plate(raw: str) -> None:
    assert parse_plate(raw) is None


def test_too_many_corrections_is_no_plate() -> None:
    assert parse_plate("OI I23 A8C") is None  # four fixes in eight characters: a guess, not a read


def test_vote_per_character_weighted_by_confidence() -> None:
    p = parse_plate
    reads = [(p("01 123 ABC"), 0.9), (p("01 128 ABC"), 0.5), (p("01 123 A8C"), 0.8), (p("01 I23 ABC"), 0.7)]
    v = vote(reads)
    assert v is not None and v.plate.text == "01 123 ABC" and v.reads == 4
    assert v.agreement[4] < 1.0 and v.agreement[0] == 1.0  # the disputed digit shows
    # No single read was right, but each character was right in most reads.
    v = vote([(p("01 128 ABC"), 0.8), (p("01 123 ABD"), 0.8), (p("07 123 ABC"), 0.8)])
    assert v is not None and v.plate.text == "01 123 ABC"
    # The format with the most confidence wins; the lone legal-entity read does not vote.
    v = vote([(p("01 123 ABC"), 0.9), (p("01 123 AB"), 0.95), (p("01 123 ABC"), 0.7)])
    assert v.plate.text == "01 123 ABC" and v.confidence < 0.9
    assert vote([]) is None


def test_vote_confidence_drops_with_disagreement() -> None:
    p = parse_plate
    sure = vote([(p("01 123 ABC"), 0.9)] * 5)
    split = vote([(p("01 123 ABC"), 0.9), (p("01 128 ABC"), 0.9), (p("01 123 ABC"), 0.9), (p("01 128 ABC"), 0.8)])
    assert sure.confidence == pytest.approx(0.9, abs=0.01)
    assert split.confidence < 0.6


def test_pattern_search() -> None:
    assert matches("01 ??? A*", "01 123 ABC") and matches("01???A*", "01 123 AB")
    assert not matches("01 ??? A*", "02 123 ABC") and not matches("01 ??? A*", "01 123 BAC")
    assert matches("*ABC", "09 555 ABC") and matches("09*", "09 1234 D")
    assert matches("01 123 авс", "01 123 ABC")  # Cyrillic look-alikes typed by an operator
    assert not matches("01 ?? ABC", "01 123 ABC")  # ? is exactly one character
    with pytest.raises(ValueError, match="matches everything"):
        plate_pattern("***")


def test_edit_distance() -> None:
    assert edit_distance("01 123 ABC", "01123ABC") == 0  # spaces do not count
    assert edit_distance("01 123 ABC", "01 128 ABC") == 1
    assert edit_distance("01 123 ABC", "01 123 AB") == 1
    assert edit_distance("01 123 ABC", "09 555 XYZ", limit=1) == 2  # stopped early
    assert char_accuracy("01 123 ABC", "01 128 ABC") == pytest.approx(7 / 8)


def test_simulator_uses_the_same_grammar() -> None:
    assert is_valid_plate("09 123 ABC") and is_valid_plate("09 123 AB")
    assert not is_valid_plate("10 123 ABC") and not is_valid_plate("B 1234 AB")  # the sim draws 2016 plates only
    assert check_plate(" 01  123 abc ") == "01 123 ABC"
    with pytest.raises(ValueError, match="NN NNN LLL"):
        check_plate("01 123 4BC")
    assert isinstance(parse_plate(check_plate("01 123 abc")), Plate)
