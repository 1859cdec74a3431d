"""The dashboard: one HTML page at `/` with its script and stylesheet.

The page is plain HTML and JavaScript that calls the JSON API from the same
origin; it loads nothing from anywhere else, and the Content-Security-Policy
below tells the browser to refuse it if it ever tried.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Served by name only: a fixed list keeps `..` and friends out by construction.
_JS = "text/javascript; charset=utf-8"
STATIC_FILES = {
    "api.js": _JS,
    "app.js": _JS,
    "chart.js": _JS,
    "compare.js": _JS,
    "dom.js": _JS,
    "format.js": _JS,
    "lists.js": _JS,
    "live.js": _JS,
    "selection.js": _JS,
    "state.js": _JS,
    "summary.js": _JS,
    "style.css": "text/css; charset=utf-8",
}

# Same-origin everything; `data:` only for the empty favicon.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files that change with the code: revalidate rather than go stale.
    "Cache-Control": "no-cache",
}


@router.get("/")
def dashboard() -> FileResponse:
    """The dashboard page."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers=HEADERS,
    )


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """One of the dashboard's scripts or its stylesheet."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")

    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=HEADERS)
