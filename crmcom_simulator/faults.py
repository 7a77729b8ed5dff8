"""Injected faults: slow, failing, garbled or lost answers for chosen API methods."""

import random
import threading
from dataclasses import asdict, dataclass, fields

KINDS = ("latency", "error", "http_error", "malformed", "drop", "redirect")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass
class Fault:
    """One fault rule.

    endpoint: an API method such as "customer_events/purchases/create", or "*".
    kind: latency (wait, then answer normally), error (an error envelope, request not
      applied), http_error (an HTML page with http_status, not applied), malformed
      (HTTP 200 whose body is not JSON), drop (the connection is closed unanswered)
      or redirect (http_status 307 by default, Location: ``location``; not applied).
    times: how many matching requests it hits; None = until cleared.
    probability: chance of hitting each matching request (seeded: reproducible).
    delay: seconds waited before answering (or dropping).
    applied: malformed/drop only: apply the request first, then lose the answer.
    http_status: of http_error (default 503) or redirect (default 307).
    location: redirect only: where to; None = the simulator's trap listener (another
      loopback port that records what reaches it), same path and query.
    """

    endpoint: str = "*"
    kind: str = "error"
    times: int | None = 1
    probability: float = 1.0
    delay: float = 0.0
    applied: bool = False
    code: str = "INTERNAL_ERROR"
    message: str = "Simulated CRM.COM failure."
    http_status: int | None = None
    location: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Fault.kind must be one of {KINDS}, not {self.kind!r}")
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise ValueError("Fault.endpoint must be a method path or '*'")
        self.endpoint = self.endpoint.strip("/")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError("Fault.times must be a positive integer or None")
        if not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError("Fault.probability must be between 0 and 1")
        if float(self.delay) < 0:
            raise ValueError("Fault.delay must not be negative")
        if self.applied and self.kind not in ("malformed", "drop"):
            raise ValueError("Fault.applied only makes sense for malformed and drop")
        if self.http_status is None:
            self.http_status = 307 if self.kind == "redirect" else 503
        if self.kind == "redirect":
            if self.http_status not in REDIRECT_STATUSES:
                raise ValueError(f"a redirect fault answers one of {REDIRECT_STATUSES}")
        elif not 400 <= int(self.http_status) <= 599:
            raise ValueError("Fault.http_status must be an HTTP error status (4xx/5xx)")
        if self.location is not None and self.kind != "redirect":
            raise ValueError("Fault.location only makes sense for redirect")
        if self.kind == "error" and self.code == "OK":
            raise ValueError("an error fault cannot answer OK")

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        return cls(**data)

    def matches(self, endpoint):
        return self.endpoint in ("*", endpoint)


class FaultBoard:
    """The active faults, in injection order; the first that hits a request wins."""

    def __init__(self, seed=0):
        self._seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._active = []  # [fault, remaining hits or None]

    def add(self, fault):
        with self._lock:
            self._active.append([fault, fault.times])

    def clear(self, reseed=False):
        with self._lock:
            self._active.clear()
            if reseed:
                self._random = random.Random(self._seed)

    def pick(self, endpoint):
        """The fault hitting this request (and count the hit), or None."""
        with self._lock:
            for entry in self._active:
                fault, remaining = entry
                if not fault.matches(endpoint):
                    continue
                if fault.probability < 1 and self._random.random() >= fault.probability:
                    continue
                if remaining is not None:
                    entry[1] = remaining - 1
                    if entry[1] == 0:
                        self._active.remove(entry)
                return fault
            return None

    def describe(self):
        with self._lock:
            return [{**asdict(fault), "remaining": remaining} for fault, remaining in self._active]
