"""Formatted text for Matrix clients: organisation texts are Markdown, clients render HTML."""

from __future__ import annotations

import markdown as md


def to_html(text: str) -> str:
    """Markdown (as in the notice files) to the HTML subset Matrix clients render."""
    return str(md.markdown(text, extensions=["nl2br"], output_format="html"))
