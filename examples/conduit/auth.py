"""Passwords and tokens: scrypt hashes (the standard library's) and JWTs (PyJWT).

Nothing here knows about HTTP: ``api.py`` reads ``Authorization: Token <jwt>`` and turns
a ``TokenError`` into a 401.

>>> stored = hash_password("correct horse")
>>> verify_password("correct horse", stored), verify_password("wrong", stored)
(True, False)
>>> read_token(make_token(7, "k" * 32), "k" * 32)
7
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

import jwt

__all__ = ["TokenError", "hash_password", "make_token", "read_token", "verify_password"]

# scrypt's cost: 2**14 x 8 is 16 MiB and some 50 ms a hash, the figure RFC 7914 suggests
# for interactive logins.
_N, _R, _P = 2**14, 8, 1
_ALGORITHM = "HS256"
TOKEN_LIFETIME = dt.timedelta(days=30)
_MAX_ID = 2**63 - 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash``: what ``users.password_hash`` stores."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (in constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        found = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(found, _unb64(digest))


class TokenError(Exception):
    """A token that cannot be trusted: malformed, badly signed or expired (``str()`` says
    which, in words fit for the client)."""


def make_token(user_id: int, secret: str, lifetime: dt.timedelta = TOKEN_LIFETIME) -> str:
    """A signed JWT naming the user (``sub``), valid for ``lifetime``."""
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str) -> int:
    """The user id a token made by ``make_token`` names.

    Raises:
        TokenError: the token is expired, altered, signed with another key or not a JWT.
    """
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("The token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise TokenError("The token is not valid") from None
    subject = claims["sub"]
    # NOTE: ASCII digits only (str.isdigit takes U+0661, ARABIC-INDIC DIGIT ONE), and no
    # more than a BIGINT holds: a larger id would be the driver's 500, not a 401.
    if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
        raise TokenError("The token is not valid")
    user_id = int(subject)
    if user_id > _MAX_ID:
        raise TokenError("The token is not valid")
    return user_id
