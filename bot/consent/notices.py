"""Versioned texts an organisation owns: the consent notice and the workers' usage rules.

One Markdown file per language in a folder (``policies/consent/de.md``, ``en.md``, …)::

    +++
    version = "2026-11"
    effective = 2026-11-01
    +++
    The short, plain-language summary (shown first).
    <!-- full -->
    The full text (shown on request).

Placeholders such as ``{organisation}`` are filled from the configuration. All languages of a
text must carry the same version: a consent is to *the* notice, whatever language it was
read in. Adding a language (a new file with the same version) therefore changes nothing for
consents already given. The required languages (German and English) decide the version in
force; a translation still carrying an older version is set aside until it is translated
(its readers get the notice of its base or the default language, and the consent log records
that language), so a changed notice can take effect before every translation is done. A translation
not yet confirmed by a native speaker says so in its header (``review = "machine translation,
needs review by a native speaker"``; ``lotse texts --missing`` lists it). A broken folder is
refused with file, line and reason; the caller keeps the last good set.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

FULL_MARKER = "<!-- full -->"
_FENCE = "+++"


class NoticeError(ValueError):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Notice:
    language: str
    version: str
    effective: dt.date
    summary: str
    full: str
    # Why this translation still needs a native speaker's review (header ``review``), or None.
    review: str | None = None

    def render(self, values: Mapping[str, str]) -> tuple[str, str]:
        return _fill(self.summary, values), _fill(self.full, values)


@dataclass(frozen=True)
class NoticeSet:
    version: str
    by_language: Mapping[str, Notice]
    # Translations set aside because they carry another version: language → their version.
    outdated: Mapping[str, str] = field(default_factory=dict)

    def for_language(self, language: str, default: str) -> Notice:
        """The notice in ``language``, else in its base language (``de`` for plain German,
        ``de@ls``), else in ``default``. Its ``language`` says which one it is."""
        base = re.split(r"[@_-]", language, maxsplit=1)[0]
        return self.by_language.get(language) or self.by_language.get(base) or self.by_language[default]


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(text: str, values: Mapping[str, str]) -> str:
    return string.Formatter().vformat(text, (), _Keep(values))


def parse_notice(path: Path, text: str) -> Notice:
    lines = text.removeprefix("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise NoticeError(path, 1, f"must start with a '{_FENCE}' line opening the header")
    try:
        close = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise NoticeError(path, 1, f"header is not closed by a second '{_FENCE}' line") from None
    try:
        header = tomllib.loads("\n".join(lines[1:close]))
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        # "at end of document" carries no line: the error is in the header's last line.
        raise NoticeError(path, 1 + int(m.group(1)) if m else close, f"header: {exc}") from None

    def line_of(key: str) -> int:
        return next((i + 1 for i in range(1, close) if lines[i].lstrip().startswith(key)), 2)

    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, str | int) or not str(version).strip():
        raise NoticeError(path, line_of("version"), 'header needs version = "…"')
    effective = header.get("effective")
    if isinstance(effective, str):
        try:
            effective = dt.date.fromisoformat(effective)
        except ValueError:
            effective = None
    if not isinstance(effective, dt.date):
        raise NoticeError(path, line_of("effective"), "header needs effective = YYYY-MM-DD")
    body = lines[close + 1 :]
    markers = [i for i, line in enumerate(body) if line.strip() == FULL_MARKER]
    if len(markers) != 1:
        raise NoticeError(path, close + 2, f"the text needs exactly one '{FULL_MARKER}' line")
    summary = "\n".join(body[: markers[0]]).strip()
    full = "\n".join(body[markers[0] + 1 :]).strip()
    if not summary or not full:
        raise NoticeError(path, close + 2, "summary and full text must both be non-empty")
    for part, offset in ((summary, close + 2), (full, close + markers[0] + 3)):
        try:
            list(string.Formatter().parse(part))
        except ValueError as exc:
            raise NoticeError(path, offset, f"broken {{placeholder}}: {exc}") from None
    review = header.get("review")
    if review is not None and (not isinstance(review, str) or review.casefold().startswith("reviewed")):
        review = None
    return Notice(path.stem, str(version).strip(), effective, summary, full, review or None)


def load_notices(directory: Path, required: tuple[str, ...]) -> NoticeSet:
    if not directory.is_dir():
        raise NoticeError(directory, 0, "folder does not exist")
    notices = {}
    for path in sorted(directory.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise NoticeError(path, line, "not UTF-8 text (save the file as UTF-8)") from None
        notices[path.stem] = parse_notice(path, text)
    for language in required:
        if language not in notices:
            raise NoticeError(directory / f"{language}.md", 0, "missing (required language)")
    # The required languages must agree; without any, all must.
    deciding = [notices[language] for language in required] or list(notices.values())
    versions = {n.version for n in deciding}
    if len(versions) != 1:
        detail = ", ".join(f"{n.language}={n.version}" for n in deciding)
        raise NoticeError(
            directory / f"{deciding[0].language}.md", 2, f"languages disagree on the version ({detail})"
        )
    version = versions.pop()
    current = {code: n for code, n in notices.items() if n.version == version}
    outdated = {code: n.version for code, n in notices.items() if n.version != version}
    return NoticeSet(version, current, outdated)


class NoticeHolder:
    """The texts in force. A reload that fails keeps the last good set and reports why."""

    def __init__(self, directory: Path, required: tuple[str, ...]) -> None:
        self.directory = directory
        self.required = required
        self.current: NoticeSet | None = None
        self.error: NoticeError | None = None

    def reload(self) -> NoticeError | None:
        try:
            self.current = load_notices(self.directory, self.required)
            self.error = None
            for language, version in self.current.outdated.items():
                log.warning(
                    "%s/%s.md is version %s, not %s: set aside until it is translated",
                    self.directory.name,
                    language,
                    version,
                    self.current.version,
                )
        except NoticeError as exc:
            self.error = exc
        return self.error

    def get(self) -> NoticeSet:
        if self.current is None:
            raise RuntimeError(f"no valid texts in {self.directory}: {self.error}")
        return self.current
