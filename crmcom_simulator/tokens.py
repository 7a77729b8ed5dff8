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

    def __init__(self, ttl=7200):
        self.ttl = ttl
        self._secret = os.urandom(32)
        self._expiry = {}  # token -> epoch seconds

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
        return token

    def is_valid(self, token):
        expires = self._expiry.get(token)
        if expires is None:
            return False
        if time.time() >= expires:
            del self._expiry[token]
            return False
        return True

    def release(self, token):
        self._expiry.pop(token, None)

    def expire_all(self):
        self._expiry.clear()

    def active_count(self):
        now = time.time()
        return sum(1 for expires in self._expiry.values() if expires > now)
