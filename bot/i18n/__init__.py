"""Every text the bot says comes from a gettext catalog: one ``.po`` file per language.

Message IDs are symbolic keys (``help.header``), not source sentences, so that German and
English are both plain translations and a test can prove each key exists in every catalog.
Placeholders use ``{name}`` (python-brace-format). The ``.po`` files are read at start-up with
Babel, so translators edit them with standard tools and a new language is one new file in
``locales/`` (or in an extra directory given to :class:`Catalog`); no code changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"


@cache
def available_languages(directory: Path = LOCALES_DIR) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in directory.glob("*.po")))


def _load_po(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=path.stem)
    out: dict[str, str] = {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.string:
            out[message.id] = str(message.string)
    return out


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Language:
    code: str
    # The language's name in itself ("Deutsch", "English", "Türkçe"): what a user who does not
    # read the default language can recognise in a menu.
    native_name: str


class Catalog:
    def __init__(self, default_language: str, directories: Iterable[Path] = (LOCALES_DIR,)):
        self._texts: dict[str, dict[str, str]] = {}
        for directory in directories:
            for path in sorted(directory.glob("*.po")):
                self._texts.setdefault(path.stem, {}).update(_load_po(path))
        if default_language not in self._texts:
            raise ValueError(f"no catalog for default language {default_language!r}")
        self.default_language = default_language

    @property
    def languages(self) -> list[Language]:
        out = []
        for code in sorted(self._texts, key=lambda c: (c != self.default_language, c)):
            try:
                name = Locale.parse(code).get_display_name(code) or code
            except (UnknownLocaleError, ValueError):
                name = code
            out.append(Language(code, name[:1].upper() + name[1:]))
        return out

    def has_language(self, code: str) -> bool:
        return code in self._texts

    def keys(self, language: str) -> set[str]:
        return set(self._texts.get(language, {}))

    def text(self, language: str | None, key: str, /, **values: Any) -> str:
        """The text for ``key`` in ``language``, falling back to the default language."""
        lang = language if language in self._texts else self.default_language
        template = self._texts[lang].get(key)
        if template is None:
            template = self._texts[self.default_language].get(key)
            log.warning("message %s missing in catalog %s", key, lang)
        if template is None:
            return key
        return template.format_map(_Missing(values))

    def all_texts(self, key: str) -> Mapping[str, str]:
        """``key`` in every language that has it (for matching words the user may type)."""
        return {lang: texts[key] for lang, texts in self._texts.items() if key in texts}
