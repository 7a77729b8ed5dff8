"""Authentication tokens, cached per set of credentials and shared by every client.

CRM.COM tokens (R12+) expire two hours after they are issued, used or not. A token is
reused until shortly before that, so under normal use there is one login per token
lifetime and per process, however many clients and threads make calls. Given a
:class:`SharedTokenStore`, processes (and servers) share one token too: a process
without a valid token of its own takes the store's, and logs in only when the store
has none, one process at a time.
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


# Refusal codes remembered per set of credentials (see CrmcomClient.call).
SESSION_CODE = "session"
REQUEST_CODE = "request"
MAX_LEARNED_CODES = 64


class CachedToken:
    __slots__ = ("value", "renew_at", "accepted_at", "refused_code")

    def __init__(self, value, renew_at, accepted_at):
        self.value = value
        self.renew_at = renew_at
        # When CRM.COM last accepted a call made with it (issued = accepted).
        self.accepted_at = accepted_at
        # The code of the last refusal of a call made with it, None after an accepted call.
        self.refused_code = None


class SharedTokenStore:
    """Where several processes keep one token per set of credentials (the addon keeps
    it in its database). Tokens travel with the time to renew them, in seconds since
    the epoch, as :class:`TokenCache` computes it."""

    def load(self, key):
        """``(token, renew_at)`` kept for ``key``, or None."""
        raise NotImplementedError

    def login_once(self, key, login, *, refused=None):
        """``(token, renew_at)`` under a lock every process shares: the kept token if it
        is still to be used (not due for renewal, not ``refused``), else the one
        ``login()`` returns, kept before the lock is released."""
        raise NotImplementedError

    def save(self, key, token, renew_at):
        """Keep ``token`` for ``key`` (an explicit login)."""
        raise NotImplementedError

    def discard(self, key, token):
        """Forget ``token`` for ``key`` if it is still the kept one (CRM.COM refused it)."""
        raise NotImplementedError


class TokenCache:
    """Thread-safe token store; ``fetch`` serialises logins per key."""

    def __init__(self, *, lifetime=TOKEN_LIFETIME, renew_margin=RENEW_MARGIN, clock=None):
        self.lifetime = lifetime
        self.renew_margin = renew_margin
        self._clock = clock or time.time
        self._tokens = {}
        self._locks = {}
        self._learned = {}  # key -> {refusal code: SESSION_CODE | REQUEST_CODE}
        self._refused_tokens = {}  # key -> the last token refused for the session
        self._guard = threading.Lock()

    def _lock_for(self, key):
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key):
        cached = self._tokens.get(key)
        if cached and self._clock() < cached.renew_at:
            return cached.value
        return None

    def fetch(self, key, login, *, shared=None):
        """The cached token for ``key``, logging in with ``login()`` when there is none
        or it is about to expire. Concurrent callers wait for a single login. With a
        ``shared`` store (SharedTokenStore), a process without a token takes the
        store's, and logs in only when the store has none (one process at a time); a
        process holding a valid token asks nothing."""
        token = self.get(key)
        if token:
            return token
        with self._lock_for(key):
            token = self.get(key)
            if token:
                return token
            if shared is None:
                token = login()
                self.store(key, token)
                return token
            refused = self._refused_tokens.get(key)
            kept = shared.load(key)
            if not (kept and kept[0] != refused and self._clock() < kept[1]):
                kept = shared.login_once(key, lambda: self._issued(login), refused=refused)
            token, renew_at = kept
            self._put(key, token, renew_at)
            return token

    def _issued(self, login):
        token = login()
        return token, self.renew_at(token)

    def renew_at(self, token):
        """When a token issued now is to be renewed (seconds since the epoch)."""
        now = self._clock()
        expires = now + self.lifetime
        claimed = jwt_expiry(token)
        if claimed and claimed > now:
            expires = min(expires, claimed)
        return max(now, expires - min(self.renew_margin, self.lifetime / 2))

    def store(self, key, token, *, shared=None):
        renew_at = self.renew_at(token)
        self._put(key, token, renew_at)
        if shared is not None:
            shared.save(key, token, renew_at)

    def _put(self, key, token, renew_at):
        with self._guard:
            self._tokens[key] = CachedToken(token, renew_at, self._clock())

    def _cached(self, key, token):
        cached = self._tokens.get(key)
        return cached if cached is not None and cached.value == token else None

    def accepted(self, key, token):
        """CRM.COM accepted a call made with ``token``."""
        with self._guard:
            cached = self._cached(key, token)
            if cached is not None:
                cached.accepted_at = self._clock()
                cached.refused_code = None

    def refused(self, key, token, code):
        """CRM.COM refused a call made with ``token`` with ``code``. Returns (seconds
        since the token was last accepted, code of the refusal just before or None);
        (0, None) for a token no longer cached."""
        with self._guard:
            cached = self._cached(key, token)
            if cached is None:
                return 0.0, None
            previous, cached.refused_code = cached.refused_code, code
            return self._clock() - cached.accepted_at, previous

    def learned(self, key, code):
        """SESSION_CODE, REQUEST_CODE or None: what a refusal ``code`` proved to be."""
        with self._guard:
            return self._learned.get(key, {}).get(code)

    def learn(self, key, code, kind):
        with self._guard:
            codes = self._learned.setdefault(key, {})
            if code not in codes and len(codes) >= MAX_LEARNED_CODES:
                codes.pop(next(iter(codes)))
            codes[code] = kind

    def invalidate(self, key, token=None, *, shared=None):
        """Forget the token for ``key`` (only if it is still ``token``, when given, so
        a token another thread has just renewed is kept); the ``shared`` store
        forgets it too, and it is never taken from there again."""
        with self._guard:
            cached = self._tokens.get(key)
            if cached and (token is None or cached.value == token):
                del self._tokens[key]
            if token is not None:
                self._refused_tokens[key] = token
        if shared is not None and token is not None:
            shared.discard(key, token)

    def clear(self):
        with self._guard:
            self._tokens.clear()
            self._learned.clear()
            self._refused_tokens.clear()


default_token_cache = TokenCache()
