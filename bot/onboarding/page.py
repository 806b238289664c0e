"""The join page: what a client sees after scanning the invitation's QR code.

Plain HTML in the invitation's language (right to left for Arabic and Farsi, with addresses,
codes and names isolated in ``<bdi>`` so that they keep their order), readable on an old
phone: no JavaScript, no images,
no fonts or anything else loaded from elsewhere, one small inline style sheet that the
Content-Security-Policy names by its hash. The token is in a read-only field that a long press
selects for copying. Every text comes from the catalogs (``page.*``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape

from bot.i18n import Catalog, is_rtl_language

# Element "classic": it registers with a token on any homeserver (Element X needs an OIDC
# login service for that).
STORE_LINKS = (
    ("page.store.play", "https://play.google.com/store/apps/details?id=im.vector.app"),
    ("page.store.fdroid", "https://f-droid.org/packages/im.vector.app/"),
    ("page.store.apple", "https://apps.apple.com/app/element-messenger/id1083446067"),
)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:18px;line-height:1.45;
margin:0;padding:16px;color:#1b1b1b;background:#fff;max-width:36em}
h1{font-size:1.4em;margin:0 0 .5em}
h2{font-size:1.1em;margin:1.4em 0 .3em}
p{margin:.4em 0}
ul{padding-inline-start:1.2em;margin:.4em 0}
li{margin:.5em 0}
a{color:#0b57d0}
label{display:block;font-weight:600;margin-top:.6em}
input{font:inherit;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.85em;width:100%;
box-sizing:border-box;padding:.4em;border:2px solid #555;border-radius:6px;background:#f4f4f4;color:#000}
.hint{font-size:.85em;color:#444}
.note{border-inline-start:4px solid #0b57d0;padding:.2em .8em;background:#eef3fd}
""".strip()

STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

# What the page may do: nothing but show itself with its own style sheet.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class JoinDetails:
    language: str
    organisation: str
    homeserver: str
    token: str
    pairing_code: str  # as shown: "K7M-4PX"
    bot: str
    expires: str  # already formatted for the language


def _lang(language: str) -> str:
    """The ``lang`` (BCP 47: ``de-x-ls`` for gettext's ``de@ls``) and, right to left, ``dir``."""
    tag = escape(language.replace("@", "-x-").replace("_", "-"))
    return f'lang="{tag}" dir="rtl"' if is_rtl_language(language) else f'lang="{tag}"'


def _document(language: str, title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html {_lang(language)}>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _field(field_id: str, label: str, value: str) -> str:
    return (
        f'<label for="{field_id}">{escape(label)}</label>\n'
        f'<input id="{field_id}" type="text" dir="ltr" readonly value="{escape(value)}" autocomplete="off" '
        'autocapitalize="off" autocorrect="off" spellcheck="false">'
    )


def join_page(catalog: Catalog, d: JoinDetails) -> str:
    def t(key: str, **values: str) -> str:
        # Values (the organisation's name, the bot's address) isolated: in a right-to-left
        # text a Latin name or an address keeps its own order.
        escaped = {name: f"<bdi>{escape(value)}</bdi>" for name, value in values.items()}
        template = catalog.text(d.language, key, **{name: f"\x00{name}\x00" for name in values})
        pieces = template.split("\x00")
        return "".join(escaped[p] if i % 2 else escape(p) for i, p in enumerate(pieces))

    stores = "\n".join(
        f'<li><a href="{escape(url)}" rel="noreferrer noopener">{t(key)}</a></li>' for key, url in STORE_LINKS
    )
    body = f"""<h1>{t("page.title", organisation=d.organisation)}</h1>
<p>{t("page.intro", organisation=d.organisation)}</p>
<h2>{t("page.step1.title")}</h2>
<p>{t("page.step1.text")}</p>
<ul>
{stores}
</ul>
<h2>{t("page.step2.title")}</h2>
<p>{t("page.step2.text")}</p>
{_field("server", catalog.text(d.language, "page.server"), d.homeserver)}
<p>{t("page.step2.more")}</p>
{_field("token", catalog.text(d.language, "page.token"), d.token)}
<p class="hint">{t("page.copy")}</p>
<h2>{t("page.step3.title")}</h2>
<p>{t("page.step3.text", bot=d.bot)}</p>
{_field("bot", catalog.text(d.language, "page.bot"), d.bot)}
{_field("code", catalog.text(d.language, "page.code"), d.pairing_code)}
<h2>{t("page.next.title")}</h2>
<p class="note">{t("page.next.text", organisation=d.organisation)}</p>
<p class="hint">{t("page.valid", expires=d.expires)}</p>"""
    return _document(d.language, catalog.text(d.language, "page.title", organisation=d.organisation), body)


def expired_page(catalog: Catalog, languages: list[str]) -> str:
    """The page of an invitation that expired, was revoked or used: in its language, or (for an
    address that never was an invitation) in the first languages of the catalog."""
    parts = []
    for language in languages:
        parts.append(
            f"<h1 {_lang(language)}>{escape(catalog.text(language, 'page.expired.title'))}</h1>\n"
            f"<p {_lang(language)}>{escape(catalog.text(language, 'page.expired.text'))}</p>"
        )
    return _document(languages[0], catalog.text(languages[0], "page.expired.title"), "\n".join(parts))
