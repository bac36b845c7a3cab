"""Command-centre pages: Jinja2 templates, static JS/CSS and the translation catalogues.

The catalogues (``i18n/{en,ru,ky}.json``) are flat ``key -> string`` maps with identical key sets;
templates call ``t(key)`` and the page scripts receive the active catalogue embedded in the page.
Strings may carry ``{name}`` placeholders, filled by ``t(key, name=...)`` here and ``t(key, {name})``
in JS. Times are stored in UTC and shown in Asia/Bishkek time (the JS does the formatting).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
I18N_DIR = WEB_DIR / "i18n"

LANGUAGES: tuple[str, ...] = ("ru", "ky", "en")
DEFAULT_LANGUAGE = "ru"
LANG_COOKIE = "koopsuz_lang"
DISPLAY_TIMEZONE = "Asia/Bishkek"


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> dict[str, str]:
    """The flat key -> string catalogue of one language (read once per process)."""
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    with (I18N_DIR / f"{lang}.json").open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{lang}.json must be a flat object of strings")
    return data


@lru_cache(maxsize=len(LANGUAGES))
def catalogue_json(lang: str) -> str:
    """The catalogue as JSON that is safe to embed inside a ``<script type="application/json">``."""
    return json.dumps(catalogue(lang), ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def translate(lang: str, key: str, **params: object) -> str:
    """``key`` in ``lang``; a missing key falls back to English, then to the key itself."""
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue("en").get(key, key)
    if params:
        for name, value in params.items():
            text = text.replace("{" + name + "}", str(value))
    return text


def normalise_language(value: str | None) -> str | None:
    """``value`` as one of LANGUAGES (accepts e.g. ``ru-RU``, ``KY``), else None."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A short hash of the static files' names, sizes and mtimes: the cache-buster in asset URLs."""
    h = hashlib.sha1()
    for p in sorted(STATIC_DIR.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(STATIC_DIR)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:10]
