"""Reading a yes or a no from what a person types or taps, in their language.

People answer on phones, in a hurry, in a language that may not be their first: ``ja``,
``JA.``, `` Ja! ``, ``1``. Consent to counselling often touches health and other special
categories, which need *explicit* consent (GDPR Art. 9(2)(a)), so only a clear answer counts.
The parser normalises Unicode (NFKC, case folding, accents and emoji variation selectors
removed), trims punctuation, and accepts

- the yes/no words of the **chosen** language (from the catalog key ``answer.yes`` /
  ``answer.no``, comma-separated), never those of other languages: "ne" is no in Czech and
  yes in Greek. Casual words ("ok", "klar", "y") are not among them;
- the numbers of the numbered menu (``1`` yes, ``2`` no), also in Arabic-Indic and Persian
  digits (``١`` ``۱``), which Arabic and Farsi phone keyboards type;
- ✅ ✔ ☑ for yes and ❌ 👎 ✖ for no, alone or next to a word that agrees. 👍 is not a yes:
  people also use it for "seen".

An answer with a question mark ("ja?", "ok?") asks rather than agrees: it is no answer, and
neither is anything else or a mix that contradicts itself. The bot asks again.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable


class YesNo(enum.Enum):
    YES = "yes"
    NO = "no"


YES_EMOJI = frozenset({"✅", "✔", "☑"})
# A no stays easy: declining lets nothing happen, and the client can start again at any time.
NO_EMOJI = frozenset({"❌", "👎", "✖", "⛔", "🚫", "❎"})
# Agreement-ish but not explicit ("seen", "fine"): never a yes, yet it contradicts a no.
CASUAL_EMOJI = frozenset({"👍", "🆗"})
# Latin, Spanish opening, Arabic/Farsi, reversed, full-width.
QUESTION_MARKS = frozenset("?¿؟⸮？")
_MODIFIERS = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")
# Punctuation, symbols and "_" (Markdown emphasis: _ja_) separate words.
_WORD_CHARS = re.compile(r"[^\w\s]|_", re.UNICODE)


# Spellings that differ by keyboard, not by meaning: Arabic-Indic and Persian digits, Turkish
# dotless i (HAYIR → hayir, hayır), Arabic and Persian forms of yeh and kaf, the tatweel
# that stretches Arabic words.
_FOLD = str.maketrans(
    {
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
        "ı": "i",
        "ي": "ی",
        "ى": "ی",
        "ك": "ک",
        "ـ": None,
    }
)
# Direction marks and joiners a phone keyboard may put around what is typed.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u061c\u2066\u2067\u2068\u2069\ufeff")


def number(text: str) -> int | None:
    """A number typed on its own ("2", "2.", "٢", "۲", "２"), or None."""
    digits = unicodedata.normalize("NFKC", text).translate(_FOLD)
    digits = "".join(ch for ch in digits if ch not in _INVISIBLE).strip().rstrip(".)").strip()
    return int(digits) if digits.isascii() and digits.isdigit() else None


def normalize(text: str) -> str:
    """Case-, accent-, width-, digit- and spacing-insensitive form of a short answer."""
    text = unicodedata.normalize("NFKC", text)
    text = _MODIFIERS.sub("", text).casefold().translate(_FOLD)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _WORD_CHARS.sub(" ", text)
    return " ".join(text.split())


def word_set(words: str | Iterable[str]) -> frozenset[str]:
    items = words.split(",") if isinstance(words, str) else words
    return frozenset(n for n in (normalize(w) for w in items) if n)


def is_question(text: str) -> bool:
    return any(ch in QUESTION_MARKS for ch in unicodedata.normalize("NFKC", text))


def parse_yes_no(text: str, yes_words: frozenset[str], no_words: frozenset[str]) -> YesNo | None:
    raw = _MODIFIERS.sub("", unicodedata.normalize("NFKC", text))
    if is_question(raw):
        return None
    votes: set[YesNo] = set()
    if any(e in raw for e in YES_EMOJI):
        votes.add(YesNo.YES)
    if any(e in raw for e in NO_EMOJI):
        votes.add(YesNo.NO)
    words = normalize(raw)
    if words:
        if words in ("1",) or words in yes_words:
            votes.add(YesNo.YES)
        elif words in ("2",) or words in no_words:
            votes.add(YesNo.NO)
        else:
            return None  # words we do not recognise: do not guess
    if len(votes) != 1 or (YesNo.NO in votes and any(e in raw for e in CASUAL_EMOJI)):
        return None
    return votes.pop()


def reaction_answer(key: str) -> YesNo | None:
    key = _MODIFIERS.sub("", unicodedata.normalize("NFKC", key)).strip()
    if key in YES_EMOJI:
        return YesNo.YES
    if key in NO_EMOJI:
        return YesNo.NO
    return None


def matches_any(text: str, words: frozenset[str]) -> bool:
    return normalize(text) in words
