"""Every text the bot says comes from a gettext catalog: one ``.po`` file per language.

Message IDs are symbolic keys (``help.header``), not source sentences, so that German and
English are both plain translations and a test can prove each key exists in every catalog.
Placeholders use ``{name}`` (python-brace-format). The ``.po`` files are read at start-up with
Babel, so translators edit them with standard tools and a new language is one new file in
``locales/`` (or in an extra directory given to :class:`Catalog`); no code changes.

Languages for clients (Arabic, Farsi, Ukrainian, Russian, Turkish, plain German) carry only the
texts a client reads (:mod:`bot.i18n.client`); worker and admin texts stay German and English.
A *variant* (``de@ls``, "Leichte Sprache", gettext's ``language@variant``) takes what it lacks
from its base language (German) before the default language. A catalog made by machine carries
``X-Lotse-Review: machine translation, needs review by a native speaker`` in its header until
the organisation has a native speaker confirm it (``lotse texts --missing`` lists them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"

# The order of the language menu after the default language: German is 1 and English 2 (the
# default language always comes first), then the languages of clients in German social work,
# plain German last. Languages from elsewhere follow in code order.
MENU_ORDER = ("de", "en", "ar", "fa", "uk", "ru", "tr", "de@ls")

# The catalog header that marks a catalog made by machine (or otherwise unconfirmed).
REVIEW_HEADER = "X-Lotse-Review"
_REVIEW_RE = re.compile(rf'^"{REVIEW_HEADER}:\s*(.*?)(?:\\n)?"\s*$', re.MULTILINE | re.IGNORECASE)


@cache
def available_languages(directory: Path = LOCALES_DIR) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in directory.glob("*.po")))


def base_language(code: str) -> str:
    """``de`` for ``de@ls`` (a variant) and ``pt_BR``; the code itself otherwise."""
    return re.split(r"[@_-]", code, maxsplit=1)[0]


def is_variant(code: str) -> bool:
    return base_language(code) != code


@dataclass(frozen=True)
class _PoFile:
    texts: dict[str, str]
    fuzzy: frozenset[str]  # entries a translator marked as needing work ("#, fuzzy")
    review: str | None  # the X-Lotse-Review header, if any


def _load_po(path: Path) -> _PoFile:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=path.stem)
    out: dict[str, str] = {}
    fuzzy = set()
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.string:
            out[message.id] = str(message.string)
            if message.fuzzy:
                fuzzy.add(message.id)
    # Babel keeps only the standard header fields: the review flag is read from the file.
    m = _REVIEW_RE.search(path.read_text(encoding="utf-8"))
    return _PoFile(out, frozenset(fuzzy), m.group(1).strip() if m else None)


def is_rtl_language(code: str) -> bool:
    """Whether a language is written right to left (Arabic, Farsi, Hebrew, …), from CLDR."""
    try:
        return Locale.parse(code).character_order == "right-to-left"
    except (UnknownLocaleError, ValueError):
        return False


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Language:
    code: str
    # The language's name in itself ("Deutsch", "English", "Türkçe"): what a user who does not
    # read the default language can recognise in a menu.
    native_name: str
    rtl: bool = False


class Catalog:
    def __init__(
        self,
        default_language: str,
        directories: Iterable[Path] = (LOCALES_DIR,),
        languages: Iterable[str] | None = None,
    ):
        """``languages``: the languages offered (menu, ``!sprache``, invitations); default all.
        A language not offered is treated as unknown (its people read the default language);
        its catalog still serves as the base of a variant that is offered."""
        self._texts: dict[str, dict[str, str]] = {}
        self._fuzzy: dict[str, set[str]] = {}
        self._review: dict[str, str | None] = {}
        for directory in directories:
            for path in sorted(directory.glob("*.po")):
                po = _load_po(path)
                texts = self._texts.setdefault(path.stem, {})
                texts.update(po.texts)
                # A later file (the organisation's own) decides about the texts it carries.
                fuzzy = self._fuzzy.setdefault(path.stem, set())
                fuzzy.difference_update(po.texts)
                fuzzy.update(po.fuzzy)
                if po.review is not None or path.stem not in self._review:
                    self._review[path.stem] = po.review
        if default_language not in self._texts:
            raise ValueError(f"no catalog for default language {default_language!r}")
        self.default_language = default_language
        self._offered = set(self._texts) if languages is None else {*languages, default_language}
        if unknown := self._offered - set(self._texts):
            raise ValueError(f"no catalog for {', '.join(sorted(unknown))}")

    @property
    def languages(self) -> list[Language]:
        """Every language, in menu order: the default language first (see MENU_ORDER)."""

        def order(code: str) -> tuple[int, int, str]:
            rank = MENU_ORDER.index(code) if code in MENU_ORDER else len(MENU_ORDER)
            return (code != self.default_language, rank, code)

        out = []
        for code in sorted(self._offered, key=order):
            name = self._texts[code].get("language.name")
            if name is None:
                try:
                    name = Locale.parse(code).get_display_name(code) or code
                except (UnknownLocaleError, ValueError):
                    name = code
            out.append(Language(code, name[:1].upper() + name[1:], is_rtl_language(code)))
        return out

    def has_language(self, code: str) -> bool:
        return code in self._offered

    def keys(self, language: str) -> set[str]:
        return set(self._texts.get(language, {}))

    def fuzzy_keys(self, language: str) -> set[str]:
        return set(self._fuzzy.get(language, set()))

    def review_note(self, language: str) -> str | None:
        """Why a catalog still needs review by a native speaker (its X-Lotse-Review header),
        or None when it is confirmed (no header, or "reviewed …")."""
        note = self._review.get(language)
        if not note or note.casefold().startswith(("reviewed", "confirmed")):
            return None
        return note

    def fallbacks(self, language: str | None) -> list[str]:
        """Where a text for ``language`` comes from, in order: the language, its base language
        (``de`` for ``de@ls``), the default language."""
        chain = []
        if language in self._offered:
            assert language is not None
            chain.append(language)
            base = base_language(language)
            if base != language and base in self._texts:
                chain.append(base)
        if self.default_language not in chain:
            chain.append(self.default_language)
        return chain

    def text(self, language: str | None, key: str, /, **values: Any) -> str:
        """The text for ``key`` in ``language``, falling back to the base language of a variant
        and then to the default language."""
        chain = self.fallbacks(language)
        template = None
        for i, lang in enumerate(chain):
            template = self._texts[lang].get(key)
            if template is not None:
                if i > 0 and lang == self.default_language and not is_variant(chain[0]):
                    log.warning("message %s missing in catalog %s", key, chain[0])
                break
        if template is None:
            return key
        return template.format_map(_Missing(values))

    def in_every_language(self, key: str, /, **values: Any) -> list[tuple[Language, str]]:
        """``key`` in every language, menu order: for what is said before a language is chosen."""
        return [(lang, self.text(lang.code, key, **values)) for lang in self.languages]

    def all_texts(self, key: str) -> Mapping[str, str]:
        """``key`` in every language that has it (for matching words the user may type)."""
        return {
            lang: texts[key] for lang, texts in self._texts.items() if key in texts and lang in self._offered
        }
