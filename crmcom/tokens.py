"""Authentication tokens, cached per set of credentials and shared by every client.

CRM.COM tokens (R12+) expire two hours after they are issued, used or not. A token is
reused until shortly before that, so under normal use there is one login per token
lifetime and per process, however many clients and threads make calls.
"""

import base64
import binascii
import hashlib
import json
import threading
import time

TOKEN_LIFETIME = 2 * 60 * 60
RENEW_MARGIN = 5 * 60


def credentials_key(*parts):
    """A cache key for a set of credentials that does not hold the secrets."""
    digest = hashlib.sha256("\x1f".join(str(p or "") for p in parts).encode())
    return digest.hexdigest()


def jwt_claims(token):
    """The claims of a JWT token (R12+: ``org``, ``usr``, ``oun``, ``exp``…), or {}
    for opaque tokens. Read for display and expiry only, never trusted."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token):
    """The ``exp`` claim of a JWT token, or None for opaque tokens."""
    exp = jwt_claims(token).get("exp")
    return float(exp) if isinstance(exp, int | float) else None


class CachedToken:
    __slots__ = ("value", "renew_at")

    def __init__(self, value, renew_at):
        self.value = value
        self.renew_at = renew_at


class TokenCache:
    """Thread-safe token store; ``fetch`` serialises logins per key."""

    def __init__(self, *, lifetime=TOKEN_LIFETIME, renew_margin=RENEW_MARGIN, clock=None):
        self.lifetime = lifetime
        self.renew_margin = renew_margin
        self._clock = clock or time.time
        self._tokens = {}
        self._locks = {}
        self._guard = threading.Lock()

    def _lock_for(self, key):
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key):
        cached = self._tokens.get(key)
        if cached and self._clock() < cached.renew_at:
            return cached.value
        return None

    def fetch(self, key, login):
        """The cached token for ``key``, logging in with ``login()`` when there is none
        or it is about to expire. Concurrent callers wait for a single login."""
        token = self.get(key)
        if token:
            return token
        with self._lock_for(key):
            token = self.get(key)
            if token:
                return token
            token = login()
            self.store(key, token)
            return token

    def store(self, key, token):
        now = self._clock()
        expires = now + self.lifetime
        claimed = jwt_expiry(token)
        if claimed and claimed > now:
            expires = min(expires, claimed)
        renew_at = max(now, expires - min(self.renew_margin, self.lifetime / 2))
        self._tokens[key] = CachedToken(token, renew_at)

    def invalidate(self, key, token=None):
        """Forget the token for ``key`` (only if it is still ``token``, when given, so
        a token another thread has just renewed is kept)."""
        with self._guard:
            cached = self._tokens.get(key)
            if cached and (token is None or cached.value == token):
                del self._tokens[key]

    def clear(self):
        with self._guard:
            self._tokens.clear()


default_token_cache = TokenCache()
