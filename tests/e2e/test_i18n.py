"""The translation catalogues: same keys in every language, and every key the pages use exists.

Keys are found three ways: ``t("key")`` calls (templates and JS), ``title_key="key"`` in pages.py,
and, in the JS, any string literal that looks like a catalogue key of a known namespace (keys
are often passed around before ``t()`` sees them: overlay messages, label maps). Families whose
members come from the backend's enums (roles, health states, severities, site types) must be
complete, so no operator ever sees a raw enum value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from koopsuz.domain.events import Severity
from koopsuz.domain.registry import SiteType
from koopsuz.security.principal import Role
from koopsuz.video.health import State
from koopsuz.web import I18N_DIR, LANGUAGES, STATIC_DIR, TEMPLATES_DIR, catalogue, translate

ROOT = Path(__file__).resolve().parents[2]
PAGES_PY = ROOT / "src" / "koopsuz" / "api" / "routers" / "pages.py"
JS_FILES = sorted((STATIC_DIR / "js").glob("*.js"))
TEMPLATES = sorted(TEMPLATES_DIR.glob("*.html"))

T_CALL = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.]+)\1""")
DATA_I18N = re.compile(r"""data-i18n=(["'])([A-Za-z0-9_.]+)\1""")
TITLE_KEY = re.compile(r"""title_key\s*=\s*(["'])([A-Za-z0-9_.]+)\1""")
# String literals shaped like keys; permission names handed to can("events.read") are not keys.
JS_LITERAL = re.compile(r"""(?<!can\()(["'])([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\1""")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def load(lang: str) -> dict[str, str]:
    return json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def namespaces() -> set[str]:
    return {k.split(".", 1)[0] for k in load("en")}


def keys_used() -> dict[str, set[str]]:
    """key -> the files that use it."""
    used: dict[str, set[str]] = {}

    def add(key: str, where: Path) -> None:
        if key.endswith("."):  # t("lang." ~ code ~ ".short"): a family, checked below
            return
        used.setdefault(key, set()).add(where.name)

    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        for rx in (T_CALL, DATA_I18N):
            for m in rx.finditer(text):
                add(m.group(2), path)
    for m in TITLE_KEY.finditer(PAGES_PY.read_text(encoding="utf-8")):
        add(m.group(2), PAGES_PY)
    ns = namespaces()
    for path in JS_FILES:
        text = path.read_text(encoding="utf-8")
        for m in T_CALL.finditer(text):
            add(m.group(2), path)
        for m in JS_LITERAL.finditer(text):
            key = m.group(2)
            if key.split(".", 1)[0] in ns and not key.endswith(".js"):
                add(key, path)
    return used


def test_catalogues_exist_for_every_language() -> None:
    assert set(LANGUAGES) == {"en", "ru", "ky"}
    for lang in LANGUAGES:
        assert (I18N_DIR / f"{lang}.json").is_file(), f"missing catalogue {lang}.json"


def test_catalogues_have_identical_key_sets() -> None:
    en = set(load("en"))
    for lang in LANGUAGES:
        keys = set(load(lang))
        assert keys == en, f"{lang}.json differs from en.json: missing {sorted(en - keys)}, extra {sorted(keys - en)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_values_are_non_empty_flat_strings(lang: str) -> None:
    data = load(lang)
    assert data, f"{lang}.json is empty"
    for key, value in data.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+", key), f"{lang}: bad key {key!r}"
        assert isinstance(value, str) and value.strip(), f"{lang}: {key} has no text"


def test_placeholders_match_across_languages() -> None:
    en = load("en")
    for lang in LANGUAGES:
        data = load(lang)
        for key, text in en.items():
            assert set(PLACEHOLDER.findall(data[key])) == set(PLACEHOLDER.findall(text)), (
                f"{lang}: {key} has placeholders {PLACEHOLDER.findall(data[key])}, "
                f"English has {PLACEHOLDER.findall(text)}"
            )


def test_every_key_used_by_templates_and_js_exists() -> None:
    used = keys_used()
    assert len(used) > 50, "the key scan found suspiciously few keys; did the patterns break?"
    for lang in LANGUAGES:
        data = load(lang)
        missing = {k: sorted(files) for k, files in used.items() if k not in data}
        assert not missing, f"{lang}.json lacks keys used by the pages: {missing}"


def test_no_unused_keys_outside_enum_families() -> None:
    """Dead keys rot: every key is used somewhere, or belongs to a family looked up by value."""
    dynamic = ("role.", "state.", "severity.", "kind.", "site_type.", "lang.")
    used = set(keys_used())
    unused = sorted(k for k in load("en") if k not in used and not k.startswith(dynamic))
    assert not unused, f"keys nothing uses: {unused}"


def test_enum_families_are_complete() -> None:
    expected = (
        [f"role.{r}" for r in Role]
        + [f"state.{s}" for s in State]
        + ["state.unknown"]
        + [f"severity.{s}" for s in Severity]
        + [f"site_type.{s}" for s in SiteType]
        + [f"kind.{k}" for k in ("motion", "motion_end", "camera_offline", "camera_online")]
        + [f"lang.{code}.short" for code in LANGUAGES]
    )
    for lang in LANGUAGES:
        data = load(lang)
        missing = [k for k in expected if k not in data]
        assert not missing, f"{lang}.json lacks {missing}"


def test_kyrgyz_and_russian_are_really_translated() -> None:
    """A catalogue copied from another language passes the key checks; this catches it."""
    en, ru, ky = load("en"), load("ru"), load("ky")
    same_ru_en = [k for k in en if ru[k] == en[k]]
    same_ky_ru = [k for k in en if ky[k] == ru[k]]
    assert len(same_ru_en) < len(en) * 0.15, f"ru.json repeats English in {same_ru_en}"
    assert len(same_ky_ru) < len(en) * 0.3, f"ky.json repeats Russian in {same_ky_ru}"
    assert ky["nav.events"] == "Окуялар" and ru["nav.events"] == "События"


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert translate("en", "events.new_count", n=3) == "Show 3 new"
    assert translate("ru", "common.seconds", n="1,5") == "1,5 с"
    assert translate("ky", "no.such.key") == "no.such.key"
    assert catalogue("ky")["login.submit"] == "Кирүү"
