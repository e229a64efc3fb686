"""Who is using the UI, and CSRF protection for its forms.

Session: the login form takes an API token and, once the server knows it, puts
it in the ``pheme_token`` cookie: ``HttpOnly`` (no script can read it),
``SameSite=Strict`` (no other site's page or link sends it), ``Secure`` over
HTTPS, ``Path=/``, no expiry (it ends with the browser, or at logout). The
cookie's value is checked against the token table on EVERY request, so it is a
server-side session whose id is the token: revoking the token ends the session
at once, and nothing about the user lives in the cookie itself. The token never
appears in a URL or a page. The API accepts the same cookie for reads only
(``pheme.api.auth``), which is what lets the page's ``EventSource`` follow the
API's SSE log endpoint.

CSRF: every form POST must carry a ``csrf`` field equal to
HMAC-SHA256(server key, ``pheme_csrf`` cookie) — a *signed* double-submit
cookie: another site can neither read the cookie nor forge the HMAC, even if it
could plant a cookie of its own. On top, a POST whose ``Origin`` (or, without
one, ``Referer``) names another origin than the request's Host or the
configured ``public_url`` is refused, and the session cookie is
``SameSite=Strict`` anyway. Any failure is a 403 before the form is acted on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from pheme.api.auth import COOKIE_NAME, Principal

__all__ = [
    "COOKIE_NAME",
    "CSRF_COOKIE",
    "CsrfError",
    "check_csrf",
    "clear_session",
    "csrf_token",
    "principal",
    "remember_csrf",
    "start_session",
]

CSRF_COOKIE = "pheme_csrf"
CSRF_FIELD = "csrf"


class CsrfError(Exception):
    """The form's CSRF token or origin is wrong (403)."""


def _key(request: Request) -> bytes:
    key = getattr(request.app.state, "web_csrf_key", None)
    if key is None:
        from pheme.services.server_settings import server_key

        key = hashlib.sha256(b"pheme web csrf\0" + server_key(request.app.state.server.settings)).digest()
        request.app.state.web_csrf_key = key
    return bytes(key)


def principal(request: Request) -> Principal | None:
    """The logged-in user (from the session cookie), or None."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    record = request.app.state.server.authenticate(token)
    if record is None:
        return None
    return Principal(record.name, record.role, record.id)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def start_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict", secure=_secure(request), path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


def _csrf_seed(request: Request) -> str:
    seed = getattr(request.state, "csrf_seed", None)
    if seed is None:
        seed = request.cookies.get(CSRF_COOKIE) or ""
        if len(seed) < 32:
            seed = secrets.token_urlsafe(32)
            request.state.csrf_new = True
        request.state.csrf_seed = seed
    return str(seed)


def csrf_token(request: Request) -> str:
    """The value every form of this page carries in its hidden ``csrf`` field."""
    return hmac.new(_key(request), _csrf_seed(request).encode(), hashlib.sha256).hexdigest()


def remember_csrf(request: Request, response: Response) -> None:
    """Set the ``pheme_csrf`` cookie when this request created it."""
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(CSRF_COOKIE, _csrf_seed(request), httponly=True, samesite="strict",
                            secure=_secure(request), path="/")  # fmt: skip


def _same_origin(request: Request, url: str) -> bool:
    """``url`` is this server: the Host the browser used, or the configured ``public_url``
    (behind a reverse proxy that rewrites Host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    if parts.netloc.lower() == request.headers.get("host", "").lower():
        return True
    public = getattr(request.app.state.server.settings, "public_url", None)
    if public:
        mine = urlsplit(public)
        return (parts.scheme, parts.netloc.lower()) == (mine.scheme, mine.netloc.lower())
    return False


def check_csrf(request: Request, form: dict[str, Any]) -> None:
    """Raise CsrfError unless the POST comes from one of our own pages."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if not _same_origin(request, origin):
            raise CsrfError("cross-origin form refused")
    elif origin == "null":
        raise CsrfError("cross-origin form refused")
    else:
        referer = request.headers.get("referer")
        if referer and not _same_origin(request, referer):
            raise CsrfError("cross-origin form refused")
    seed = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not seed or not isinstance(sent, str) or not sent:
        raise CsrfError("missing CSRF token: reload the page and try again")
    expected = hmac.new(_key(request), seed.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sent):
        raise CsrfError("invalid CSRF token: reload the page and try again")
