"""Session tokens: JWT-looking strings with an absolute expiry (CRM.COM R12+)."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenStore:
    """Issued tokens and their expiry; callers hold the engine lock."""

    def __init__(self, ttl=7200, idle_timeout=None):
        self.ttl = ttl
        # Before R12 a token expired after an idle time (one hour): None = never idle.
        self.idle_timeout = idle_timeout
        self._secret = os.urandom(32)
        self._expiry = {}  # token -> epoch seconds
        self._last_used = {}  # token -> epoch seconds

    def issue(self, username, organisation, unit_name):
        now = time.time()
        expires = now + self.ttl  # fixed when issued, like the JWT "exp" claim
        header = {"typ": "JWT", "alg": "HS256"}
        claims = {
            "jti": uuid.uuid4().hex,
            "usr": username,
            "org": organisation,
            "oun": unit_name,
            "iat": int(now),
            "exp": int(expires),
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256)
        token = f"{signing_input}.{_b64url(signature.digest())}"
        self._expiry[token] = expires
        self._last_used[token] = now
        return token

    def check(self, token):
        """ "valid" (and the token counts as used now), "idle", "expired" or "unknown"."""
        expires = self._expiry.get(token)
        if expires is None:
            return "unknown"
        now = time.time()
        if now >= expires:
            self.release(token)
            return "expired"
        if self.idle_timeout is not None and now - self._last_used[token] >= self.idle_timeout:
            self.release(token)
            return "idle"
        self._last_used[token] = now
        return "valid"

    def is_valid(self, token):
        return self.check(token) == "valid"

    def release(self, token):
        self._expiry.pop(token, None)
        self._last_used.pop(token, None)

    def expire_all(self):
        self._expiry.clear()
        self._last_used.clear()

    def active_count(self):
        now = time.time()
        return sum(1 for expires in self._expiry.values() if expires > now)
