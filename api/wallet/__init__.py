"""The owner's wallet page: plain HTML, CSS and JavaScript served beside the API, no build step.

``mount_wallet(app)`` serves the page at ``/wallet`` and its assets under ``/wallet/static``. The page
reads and writes only through the public ``/v1`` endpoints (same origin), so it needs no settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_wallet"]

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

# The page loads nothing from elsewhere and talks only to its own origin.
_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount_wallet(app: FastAPI) -> None:
    """Serve the wallet page at ``/wallet`` (and ``/wallet/``) and its assets under ``/wallet/static``."""

    @app.get("/wallet", include_in_schema=False)
    def wallet_page() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_HEADERS
        )

    @app.get("/wallet/", include_in_schema=False)
    def wallet_slash() -> RedirectResponse:
        return RedirectResponse("/wallet", status_code=308)

    app.mount("/wallet/static", StaticFiles(directory=STATIC_DIR), name="wallet-static")
