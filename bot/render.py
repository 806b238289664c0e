"""Formatted text for Matrix clients: organisation texts are Markdown, clients render HTML.

Right-to-left messages (Arabic, Farsi) are laid out for their script wherever they are sent
(:func:`directional`, applied to every message the bot sends):

- the formatted body is wrapped in ``<div dir="rtl">``, and every left-to-right fragment in it
  (a number, a time, a command word, a Matrix ID, an address) in ``<span dir="ltr">``;
- because Element's HTML sanitiser drops ``dir`` attributes (it lays out each message with
  ``dir="auto"``, by its first strong character), the text carries invisible Unicode marks as
  well: a RIGHT-TO-LEFT MARK at the start of each line, so that a line starting with a number
  or a Latin word is still laid out right to left, and a LEFT-TO-RIGHT MARK in front of a
  left-to-right fragment that starts with a digit or a sign (``@kim:server``, ``!hilfe``,
  ``9–16``), so that the sign stays where it belongs and numbers keep their order.

Marks only ever go *in front of* a fragment, never after it: a long press on a word (a token,
an address) then copies it without them. Marks in what people type are ignored when it is
read (:func:`strip_bidi_marks`).

Which messages are right-to-left: those whose first letter is in a right-to-left script, the
same rule Element applies. Catalog texts in Arabic and Farsi therefore start with a word in
their own script (a test checks it), never with a placeholder.
"""

from __future__ import annotations

import html as htmlmod
import re
import unicodedata

import markdown as md

RLM = "\u200f"
LRM = "\u200e"
# Marks and embeddings that only steer the layout: ignored in what people type.
BIDI_CONTROLS = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_CONTROLS_RE = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")

# A left-to-right fragment: a word of Latin letters or digits, optionally led by a sign
# (!hilfe, @kim:example.org, #3, +49), with inner punctuation (9:30, 0800-111, https://x/y,
# meine-daten), ending in a letter or digit; several such words separated by spaces form
# one fragment ("0800 111 0 111", "Mo–Fr 9–16 Uhr"), so that their order is kept.
_LATIN = "0-9A-Za-z\u00c0-\u024f"
_WORD = rf"[!@#+]?[{_LATIN}](?:[{_LATIN}_.:/\-–@+#?=&%~]*[{_LATIN}])?"
LTR_FRAGMENT = re.compile(rf"{_WORD}(?:[ \u00a0]+{_WORD})*")


def to_html(text: str) -> str:
    """Markdown (as in the notice files) to the HTML subset Matrix clients render."""
    return str(md.markdown(text, extensions=["nl2br"], output_format="html"))


def strip_bidi_marks(text: str) -> str:
    """What someone typed, without the invisible direction marks phones and copies add."""
    return _BIDI_CONTROLS_RE.sub("", text)


def first_strong_direction(text: str) -> str | None:
    """``"rtl"`` or ``"ltr"`` by the first letter with a strong direction (the rule of HTML's
    ``dir="auto"``); None if there is none (only digits, signs, emoji)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


def is_rtl(text: str) -> bool:
    return first_strong_direction(text) == "rtl"


def _mark(fragment: str) -> str:
    """An LRM in front of a fragment that does not start with a letter (which would otherwise
    take the direction of the text around it)."""
    return fragment if unicodedata.bidirectional(fragment[0]) == "L" else LRM + fragment


def rtl_text(text: str) -> str:
    """The plain body of a right-to-left message, with the marks described above."""
    lines = []
    for line in text.split("\n"):
        marked = LTR_FRAGMENT.sub(lambda m: _mark(m.group(0)), line)
        lines.append(RLM + marked if line.strip() else line)
    return "\n".join(lines)


def _rtl_fragment_html(text: str) -> str:
    """Escaped text with each left-to-right fragment in ``<span dir="ltr">``."""
    out: list[str] = []
    pos = 0
    for m in LTR_FRAGMENT.finditer(text):
        out.append(htmlmod.escape(text[pos : m.start()], quote=False))
        out.append(f'<span dir="ltr">{htmlmod.escape(_mark(m.group(0)), quote=False)}</span>')
        pos = m.end()
    out.append(htmlmod.escape(text[pos:], quote=False))
    return "".join(out)


_TAG = re.compile(r"(<[^>]*>)")
_LINE_START_TAGS = re.compile(r"^<(p|li|br|h[1-6]|div|blockquote|td|th)\b", re.IGNORECASE)


def rtl_html(text: str, html: str | None = None) -> str:
    """The formatted body of a right-to-left message: ``html`` (or the plain ``text``, line
    breaks kept) in ``<div dir="rtl">``, left-to-right fragments in ``<span dir="ltr">``."""
    if html is None:
        inner = "<br>".join(
            (RLM + _rtl_fragment_html(line)) if line.strip() else "" for line in text.split("\n")
        )
        return f'<div dir="rtl">{inner}</div>'
    parts: list[str] = []
    line_start = True
    for piece in _TAG.split(html):
        if not piece:
            continue
        if piece.startswith("<"):
            parts.append(piece)
            if _LINE_START_TAGS.match(piece):
                line_start = True
            continue
        if not piece.strip():
            parts.append(piece)
            continue
        # Text between tags: entities resolved, marked, escaped again.
        text = htmlmod.unescape(piece)
        lead = text[: len(text) - len(text.lstrip())]
        marked = _rtl_fragment_html(text.lstrip())
        parts.append(lead + (RLM if line_start else "") + marked)
        line_start = False
    return f'<div dir="rtl">{"".join(parts)}</div>'


def directional(body: str, html: str | None) -> tuple[str, str | None]:
    """A message as it is sent: right-to-left ones (see above) with a formatted body that says
    so; others unchanged."""
    if not is_rtl(body):
        return body, html
    if html is not None and 'dir="rtl"' in html:
        return body, html  # laid out already
    return rtl_text(body), rtl_html(body, html)
