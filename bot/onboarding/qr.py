"""The invitation's QR code: a PNG that opens the join page."""

from __future__ import annotations

import io

import segno


def qr_png(url: str, *, scale: int = 8) -> bytes:
    """A QR code for ``url`` as PNG, large enough to scan from a printout or another screen."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
