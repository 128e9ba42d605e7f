"""What the ASGI and WSGI middlewares share: the cookie a response must carry."""

from __future__ import annotations

from ._sessionio import HttpSession
from .errors import SessionRefused


def response_cookie(found: HttpSession | None, refusal: SessionRefused | None) -> str | None:
    """The ``Set-Cookie`` value for the response, decided by the engine: the clearing
    cookie of a refused one, else the cookie a ``regenerate()``/``destroy()`` during the
    request requires, else the new session's cookie (``None`` when nothing changes)."""
    if refusal is not None:
        return refusal.clear_cookie
    if found is None:
        return None
    change = found.session._cookie_change()
    return change if change is not None else found.set_cookie
