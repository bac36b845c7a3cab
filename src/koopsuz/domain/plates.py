"""The grammar of Kyrgyz licence plates: normalising OCR text, voting across reads, searching.

An OCR engine reads characters, not plates: it confuses O and 0, I and 1, B and 8, sees Cyrillic
А where the plate has Latin A, and picks up "KG" from the left field. The plate formats say which
positions hold digits and which hold letters, so most confusions can be undone *by position*, and
the two-digit region code (01..09) or the pre-2016 region letter tells the region. Every read of a
vehicle goes through :func:`parse_plate`; several reads of one track are combined by
:func:`vote` (per character, weighted by confidence, aligned by format), and stored reads are
searched with :func:`plate_pattern` (``01 ??? A*``) and :func:`edit_distance`.

Formats (Kyrgyzstan, since June 2016): private ``NN NNN LLL``, legal entities ``NN NNN LL``,
government ``NN NNN PT``, foreign citizens (black on yellow) ``NN NNNN L``; before 2016
``L NNNN LL`` with the first letter the region. Plates issued abroad (Kazakhstan ``NNN LLL NN``,
Russia ``L NNN LL NN(N)``, and any other, e.g. Uzbekistan or Tajikistan) are kept as text with
``foreign=True``; ``format`` then says ``kz``, ``ru`` or ``free``. Note the difference: ``format ==
"foreign"`` is a *Kyrgyz* plate issued to a foreign citizen, ``foreign`` is a plate from abroad.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from koopsuz.domain.regions import REGIONS, region_by_plate_code

KG_FORMATS = ("private", "legal", "government", "foreign", "pre2016")
ABROAD_FORMATS = ("kz", "ru", "free")
FORMATS = KG_FORMATS + ABROAD_FORMATS

# Cyrillic letters that look like Latin ones (upper case after str.upper()); plates carry Latin only.
CYRILLIC_LOOKALIKES = str.maketrans("АВЕКМНОРСТУХІ", "ABEKMHOPCTYXI")
# Reading a letter where a digit belongs (cost 1: the usual confusions; 1.5: rarer ones).
_TO_DIGIT = {"O": ("0", 1.0), "Q": ("0", 1.5), "D": ("0", 1.5), "U": ("0", 1.5), "I": ("1", 1.0), "L": ("1", 1.5),
             "J": ("1", 1.5), "T": ("7", 1.5), "Z": ("2", 1.0), "S": ("5", 1.0), "B": ("8", 1.0), "G": ("6", 1.0),
             "A": ("4", 1.5)}  # fmt: skip
_TO_LETTER = {"0": ("O", 1.0), "1": ("I", 1.0), "8": ("B", 1.0), "5": ("S", 1.0), "2": ("Z", 1.0), "6": ("G", 1.0),
              "4": ("A", 1.5), "7": ("T", 1.5)}  # fmt: skip
RU_LETTERS = frozenset("ABEKMHOPCTYX")  # Russian plates use only letters that exist in both alphabets
_LEGACY = {letter: r for r in REGIONS for letter in r.legacy_plate_letters}
MAX_CORRECTIONS = 2.0  # more fixes than this and the text is more likely not a plate at all
# A shape whose gaps match the read's outweighs one usual confusion plus the format prior (see _best)
SPACING_BONUS = 1.25


@dataclass(frozen=True, slots=True)
class Template:
    """One plate shape: ``D`` digit, ``L`` letter, spaces where the plate has gaps."""

    format: str
    shape: str  # e.g. "DD DDD LLL"

    @property
    def compact(self) -> str:
        return self.shape.replace(" ", "")


TEMPLATES: tuple[Template, ...] = (
    Template("private", "DD DDD LLL"),
    Template("legal", "DD DDD LL"),  # "government" when the letters are PT
    Template("foreign", "DD DDDD L"),
    Template("pre2016", "L DDDD LL"),
    Template("kz", "DDD LLL DD"),
    Template("kz", "DDD LL DD"),
    Template("ru", "L DDD LL DD"),
    Template("ru", "L DDD LL DDD"),
)
_TEMPLATES_2016 = tuple(t for t in TEMPLATES if t.format in ("private", "legal", "foreign"))
EDGE_COST = 1.0  # a repaired edge (characters dropped, the 0 put back) counts as one correction
# A Kyrgyz reading wins a tie against an abroad one: most cars on Kyrgyz roads are Kyrgyz.
_PRIOR = {"private": 0.0, "legal": 0.1, "foreign": 0.3, "pre2016": 0.2, "kz": 0.4, "ru": 0.4}


@dataclass(frozen=True, slots=True)
class Plate:
    """A plate read and normalised.

    ``text`` is in canonical spacing (``01 123 ABC``); ``region`` is the ISO 3166-2:KG code for a
    Kyrgyz plate (None abroad); ``corrections`` counts the characters the grammar changed (0 = the
    OCR text fitted as it was), which a caller may use to lower its trust in the read.
    """

    text: str
    format: str
    region: str | None = None
    country: str = "KG"
    corrections: float = 0.0

    @property
    def foreign(self) -> bool:
        """True for a plate issued abroad (KZ, RU, other), read as free text."""
        return self.country != "KG"

    @property
    def compact(self) -> str:
        return self.text.replace(" ", "")


def clean(raw: str) -> str:
    """Upper case, Cyrillic look-alikes to Latin, only letters and digits kept."""
    up = raw.upper().translate(CYRILLIC_LOOKALIKES)
    return "".join(ch for ch in up if ch.isascii() and ch.isalnum())


def _fit(chars: str, template: Template) -> tuple[str, float] | None:
    """Force ``chars`` into ``template`` by position; (fixed text, cost) or None if it cannot fit."""
    shape = template.compact
    if len(chars) != len(shape):
        return None
    out, cost = [], 0.0
    for ch, want in zip(chars, shape, strict=True):
        if want == "D" and not ch.isdigit():
            fix = _TO_DIGIT.get(ch)
            if fix is None:
                return None
            ch, c = fix
            cost += c
        elif want == "L" and not ch.isalpha():
            fix = _TO_LETTER.get(ch)
            if fix is None:
                return None
            ch, c = fix
            cost += c
        out.append(ch)
    return "".join(out), cost


def _spaced(compact: str, template: Template) -> str:
    out, i = [], 0
    for part in template.shape.split(" "):
        out.append(compact[i : i + len(part)])
        i += len(part)
    return " ".join(out)


def _accept(compact: str, template: Template, cost: float) -> Plate | None:
    """Checks beyond the shape: region codes, PT, Russian letters; None if the text is not that plate."""
    fmt, text = template.format, _spaced(compact, template)
    if fmt in ("private", "legal", "foreign"):
        code = compact[:2]
        if not ("01" <= code <= "09"):
            return None
        if fmt == "legal" and compact[5:] == "PT":
            fmt = "government"
        return Plate(text, fmt, region_by_plate_code(code).code, "KG", cost)
    if fmt == "pre2016":
        reg = _LEGACY.get(compact[0])
        return None if reg is None else Plate(text, fmt, reg.code, "KG", cost)
    if fmt == "ru":
        letters = compact[0] + compact[4:6]
        return Plate(text, fmt, None, "RU", cost) if set(letters) <= RU_LETTERS else None
    return Plate(text, fmt, None, "KZ", cost)


def _candidates(chars: str) -> tuple[list[str], list[str]]:
    """(whole readings, repaired readings) of the cleaned text.

    Whole readings: the text, and the text without the "KG" of a 2016 plate's left field.
    Repaired ones are tried only when no whole reading fits, and only as 2016 plates (their region
    code 01..09 is a strict enough check to make the repair safe): up to three characters dropped
    at the start (the flag and "KG" read as letters, e.g. "RG01 234 ABC"), one at the end (the
    frame), or the region code's leading 0 put back (it stands just right of the left field, and
    a recogniser that starts reading after the flag loses it: "1 234 ABC").
    """
    whole = [chars]
    for stripped in (chars.removeprefix("KG"), chars.removesuffix("KG")):
        if stripped != chars:
            whole.append(stripped)
    repaired = []
    for w in whole:
        repaired += [w[k:] for k in (1, 2, 3) if len(w) - k >= 7]
        if len(w) >= 8:
            repaired.append(w[:-1])
        if len(w) in (6, 7) and w[0] in "123456789":
            repaired.append("0" + w)
    return whole, repaired


@lru_cache(maxsize=4096)
def parse_plate(raw: str, *, free_text: bool = False) -> Plate | None:
    """The best plate reading of OCR text ``raw``, or None when it fits no format.

    With ``free_text`` an unrecognised string of 4..10 letters and digits (with at least one of
    each) comes back as a foreign plate of format ``free`` (an Uzbek or Tajik plate, or an unusual
    one): the reader passes it for text found on a plate-shaped box, never for arbitrary text.
    """
    chars = clean(raw)
    if not chars:
        return None
    whole, trimmed = _candidates(chars)
    spaced = _grouping(raw) if len(_grouping(raw)) > 1 else None
    best = _best(whole, TEMPLATES, MAX_CORRECTIONS, 0.0, spaced) or _best(trimmed, _TEMPLATES_2016, 1.0, EDGE_COST)
    if best is not None:
        return best
    if free_text and 4 <= len(chars) <= 10 and any(c.isdigit() for c in chars) and any(c.isalpha() for c in chars):
        return Plate(chars, "free", None, "", 0.0)
    return None


def parse_read(raw: str) -> Plate | None:
    """How a recogniser's text from a plate-shaped box is parsed: a plate, else free text, else None.

    This is the grammar handed to :class:`koopsuz.vision.plates.PlateReader`.
    """
    return parse_plate(raw, free_text=True)


def _grouping(raw: str) -> tuple[int, ...]:
    """How the recogniser spaced the characters: lengths of the runs between gaps (``0 4007 DX`` -> 1, 4, 2)."""
    up = raw.upper().translate(CYRILLIC_LOOKALIKES)
    return tuple(len(g) for g in re.split(r"[^A-Z0-9]+", up) if g)


def _best(
    cands: list[str],
    templates: Sequence[Template],
    max_fix: float,
    extra: float,
    spaced: tuple[int, ...] | None = None,
) -> Plate | None:
    """The cheapest fit of any candidate to any template (corrections plus a small format prior).

    ``spaced``: how the recogniser grouped the characters of ``cands[0]`` (the text as read). A shape
    whose gaps fall where the read's do wins over one that needs a correction less: the gaps are
    what tell a pre-2016 Osh plate ``O 4007 DX`` (read ``0 4007 DX``) from a 2016 legal-entity plate
    ``04 007 DX``, and a Russian ``O 620 MC 26`` from a Kazakh ``062 OMC 26``; the characters alone
    cannot (O and 0 are one glyph on a plate).
    """
    best: tuple[float, Plate] | None = None
    for i, cand in enumerate(cands):
        for template in templates:
            fitted = _fit(cand, template)
            if fitted is None or fitted[1] > max_fix:
                continue
            plate = _accept(fitted[0], template, fitted[1] + extra)
            if plate is None:
                continue
            score = plate.corrections + _PRIOR.get(template.format, 0.0)
            if i == 0 and spaced is not None and spaced == tuple(len(g) for g in template.shape.split(" ")):
                score -= SPACING_BONUS
            if best is None or score < best[0]:
                best = (score, plate)
    return best[1] if best else None


def region_of(text: str) -> str | None:
    """ISO region of a plate text, or None (abroad, or not a plate)."""
    p = parse_plate(text)
    return p.region if p else None


# --------------------------------------------------------------------------- voting


@dataclass(frozen=True, slots=True)
class Vote:
    """The plate of one vehicle, decided from several reads.

    ``confidence`` (0..1) is the mean confidence of the reads that agree on the format, times the
    share of all read weight behind that format, times the weakest per-character agreement: one
    disputed character is enough to make the whole plate uncertain. ``agreement`` per position.
    """

    plate: Plate
    confidence: float
    reads: int
    agreement: tuple[float, ...]


def vote(reads: Iterable[tuple[Plate, float]]) -> Vote | None:
    """Combine ``(plate, confidence)`` reads of one vehicle; None when there are none.

    Reads are grouped by format (and length), the group with the most confidence wins, then each
    character position is decided by the confidence-weighted majority. Aligning by format is what
    makes a per-character vote sound: position 3 of a private plate is always the first digit of
    the number, whatever the OCR did with the spaces.
    """
    items = [(p, max(0.0, float(c))) for p, c in reads if p is not None]
    if not items:
        return None
    groups: dict[tuple[str, int], list[tuple[Plate, float]]] = {}
    for p, c in items:
        groups.setdefault((p.format, len(p.compact)), []).append((p, c))
    total = sum(c for _, c in items) or 1e-9
    _key, group = max(groups.items(), key=lambda kv: (sum(c for _, c in kv[1]), len(kv[1])))
    weight = sum(c for _, c in group) or 1e-9
    n = len(group[0][0].compact)
    chars, agreement = [], []
    for i in range(n):
        tally: dict[str, float] = {}
        for p, c in group:
            tally[p.compact[i]] = tally.get(p.compact[i], 0.0) + c + 1e-6
        ch, w = max(tally.items(), key=lambda kv: kv[1])
        chars.append(ch)
        agreement.append(w / sum(tally.values()))
    compact = "".join(chars)
    first = group[0][0]
    template = next((t for t in TEMPLATES if _template_matches(t, first)), None)
    text = _spaced(compact, template) if template else compact
    plate = (parse_plate(text, free_text=first.foreign) if template else None) or Plate(
        text, first.format, first.region, first.country, 0.0
    )
    mean_conf = weight / len(group)
    confidence = mean_conf * (weight / total) * min(agreement)
    return Vote(plate, round(min(1.0, confidence), 4), len(items), tuple(round(a, 3) for a in agreement))


def _template_matches(t: Template, p: Plate) -> bool:
    fmt = "legal" if p.format == "government" else p.format
    return t.format == fmt and len(t.compact) == len(p.compact)


# --------------------------------------------------------------------------- search


def plate_pattern(pattern: str) -> re.Pattern[str]:
    """A compiled matcher for a search pattern: ``?`` one character, ``*`` any run (even none).

    Spaces do not matter (``01???A*`` = ``01 ??? A*``), nor case or Cyrillic look-alikes; match
    the result against :func:`search_key` of a stored plate with ``fullmatch``.
    """
    key = "".join(ch if ch in "?*" else clean(ch) for ch in pattern)
    if not key or not any(ch not in "*" for ch in key):
        raise ValueError(f"plate pattern {pattern!r} matches everything: give at least one character or '?'")
    rx = "".join("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in key)
    return re.compile(rx)


def search_key(text: str) -> str:
    """The form plates are compared in: upper case Latin letters and digits only."""
    return clean(text)


def matches(pattern: str, text: str) -> bool:
    return plate_pattern(pattern).fullmatch(search_key(text)) is not None


def edit_distance(a: str, b: str, *, limit: int | None = None) -> int:
    """Levenshtein distance between two plates (compared by :func:`search_key`).

    With ``limit`` the computation stops early and returns ``limit + 1`` once the distance is
    sure to exceed it: searching many stored reads for "within 1" then costs little per read.
    """
    s, t = search_key(a), search_key(b)
    if limit is not None and abs(len(s) - len(t)) > limit:
        return limit + 1
    prev = list(range(len(t) + 1))
    for i, cs in enumerate(s, 1):
        cur = [i]
        for j, ct in enumerate(t, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cs != ct)))
        if limit is not None and min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def char_accuracy(truth: str, read: str) -> float:
    """Share of the truth's characters read right (1 - edit distance / length), for scoring."""
    t = search_key(truth)
    return max(0.0, 1.0 - edit_distance(t, read) / max(1, len(t)))


def best_first(plates: Sequence[tuple[Plate, float]]) -> list[tuple[Plate, float]]:
    """Kyrgyz readings before free text, then by confidence."""
    return sorted(plates, key=lambda pc: (pc[0].format == "free", -pc[1]))
