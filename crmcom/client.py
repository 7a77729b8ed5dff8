"""The CRM.COM Web API v2 client: one method per API call, on a pooled requests session.

Success is ``status.code == "OK"`` in the JSON envelope and nothing else (CRM.COM does
not document HTTP status codes). Reads and logins are retried on connection failures;
creates, spends and cancels are sent once and report whether they may have been applied.

Redirects are never followed (``allow_redirects=False`` on every request, the login
included): a 3xx answer is a :class:`CrmcomRedirectError`, not applied, not retried.
The server address is parsed the way requests/urllib3 will connect to it, and refused
with user info (``user:pass@``), backslashes, ``?`` or ``#``, another scheme than
http(s), or plain http to anything but this machine (:func:`normalise_base_url`).

Refusals (an envelope whose code is not OK) — CRM.COM documents no error codes, so the
client decides on the call's context first and reads the words of the answer second.
A refusal was not applied, so resending it is safe. A refusal of a call made with a
session token is taken, in this order, for:

1. the session, when it comes with HTTP 401;
2. the customer, when its code (or its text, unless the code names a request
   parameter) names the customer's identifier: access token, card, identifier,
   participant, customer... — on an identification (``show_rewards_participant``)
   it is a :class:`CrmcomNotFoundError`, elsewhere a plain :class:`CrmcomApiError`;
   never a new login;
3. the session, when its code (or its text, unless the code names something of the
   request) speaks of the token, the session, a login, authentication, credentials
   or expiry;
4. what its code proved to be before (below);
5. the request, when its code names something of the request (parameter, duplicate,
   wallet, spend, posted, not found, internal error...); on an identification a
   "not found" code is a :class:`CrmcomNotFoundError`;
6. otherwise (a code and text the client cannot read) the session, when the token
   may have expired unseen: CRM.COM last accepted it ``session_check_after`` seconds
   ago or more (before R12 tokens expired after an idle hour), or the call just
   before with the same token was refused with the same code. Else the request.

A refusal taken for the session makes the client log in again and resend the request
once: if the fresh token is refused for the session too, the error is a
:class:`CrmcomAuthenticationError`. After case 6 the outcome is remembered per code
(the resend accepted: a session code; refused the same way: a request code), so an
unreadable code costs one extra login at most. A login refused is always a
:class:`CrmcomAuthenticationError`.

Dates: CRM.COM dates carry no zone, and the docs do not say in which zone CRM.COM
reads them. Give the client aware datetimes. ``performed_on`` is sent as the
wall-clock time of its own zone (the till's), or in ``server_timezone`` when the
client is given CRM.COM's zone. The bounds of ``list_purchases`` / ``find_purchase``
are compared by CRM.COM with its own clock: without ``server_timezone`` they are
widened by the spread of the world's time zones (UTC−12 … UTC+14) so that the
duplicate lookup can never miss a purchase (it filters by reference anyway); with it,
they are sent in that zone. Naive datetimes are still accepted: a naive
``performed_on`` is sent as it is, a naive bound is taken as UTC (Odoo's convention).
"""

import datetime
import ipaddress
import logging
import os
import re
import threading
import time
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util import parse_url

from . import payloads
from .errors import (
    CrmcomAlreadyCancelledError,
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomError,
    CrmcomNotFoundError,
    CrmcomProtocolError,
    CrmcomRedirectError,
    CrmcomTimeoutError,
)
from .readers import read_purchase
from .redaction import install_log_filter, redact, scrub
from .tokens import REQUEST_CODE, SESSION_CODE, credentials_key, default_token_cache

_logger = logging.getLogger(__name__)
install_log_filter()

API_PATH = "/crmapi/rest/v2/"
DEFAULT_TIMEOUT = (5.0, 30.0)
# Words of undocumented refusals (see the module docstring for how they are used).
_CUSTOMER_WORDS = re.compile(
    r"ACCESS[\s_-]*TOKEN|IDENTIFIER|IDENTIFICATION|CUSTOMER|PARTICIPANT|CARD|PASS[\s_-]*CODE"
    r"|E-?MAIL|PHONE|MEMBER",
    re.I,
)
_SESSION_WORDS = re.compile(
    r"TOKEN|SESSION|AUTHENTICAT|UNAUTHORI[SZ]|LOG[\s_-]*IN|LOGGED|SIGN[\s_-]*IN|CREDENTIAL"
    r"|EXPIRED|JWT",
    re.I,
)
_NOT_FOUND_WORDS = re.compile(r"NOT[\s_-]*FOUND|UNKNOWN|NO[\s_-]*SUCH|NO[\s_-]*RECORD|EXIST", re.I)
_REQUEST_WORDS = re.compile(
    r"PARAMETER|MANDATORY|MISSING|REQUEST|METHOD|DUPLICATE|POSTED|CANCEL|SPEND|WALLET"
    r"|BALANCE|LIMIT|INSUFFICIENT|ALLOWED|EFFECTIVE|BLOCKED|PRODUCT|UNIT|PURCHASE|AMOUNT"
    r"|REFERENCE|CURRENCY|CLASSIFICATION|INTERNAL|SERVER|UNAVAILABLE|BUSY",
    re.I,
)
# A refusal the client cannot read is taken for an expired session when CRM.COM last
# accepted the token this long ago (seconds) or more.
SESSION_CHECK_AFTER = 15 * 60
# The spread of the world's time zones: lookup bounds are widened by it when the
# server's zone is not known.
EARLIEST_UTC_OFFSET = datetime.timedelta(hours=-12)
LATEST_UTC_OFFSET = datetime.timedelta(hours=14)
LOOPBACK_NAMES = frozenset({"localhost"})
# Answers of a proxy in front of CRM.COM: retried for reads only.
_RETRYABLE_HTTP = frozenset({502, 503, 504})

# Connections kept per CRM.COM host: also the most requests a process may have in
# flight at once without opening throw-away connections.
POOL_SIZE = 32

_sessions = {}
_sessions_lock = threading.Lock()


def shared_session(base_url, *, pool_size=POOL_SIZE):
    """One pooled session per CRM.COM host, shared by every client in the process.

    The environment's proxy and CA bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``...) are read once, when the session is made: requests
    would read them again at every call, a fifth of a call's own time. ``~/.netrc``
    is never read: its password must not go to CRM.COM with our token calls."""
    netloc = urlsplit(base_url)[:2]
    with _sessions_lock:
        session = _sessions.get(netloc)
        if session is None:
            session = requests.Session()
            session.proxies = requests.utils.get_environ_proxies(base_url)
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            session.trust_env = False
            # Retries are decided here, per call, never by urllib3 behind our back.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"Accept": "application/json"})
            _sessions[netloc] = session
        return session


def normalise_base_url(base_url):
    """``https://host`` or ``https://host/crmapi/rest/v2`` → the API root URL.

    Parsed as urllib3 (hence requests) parses it, so that the host checked is the host
    connected to. Refused (CrmcomConfigurationError, whose text never repeats the
    address): user info (``user:pass@``), backslashes, spaces or control characters,
    ``?`` or ``#``, a scheme other than http/https, and plain http to anything but
    this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise CrmcomConfigurationError("The CRM.COM server address is missing.")
    text = base_url.strip()
    if "\\" in text or any(ord(char) <= 32 or ord(char) == 127 for char in text):
        raise CrmcomConfigurationError(
            "The CRM.COM server address must not hold spaces, control characters or" " backslashes."
        )
    if "@" in text:
        raise CrmcomConfigurationError(
            "The CRM.COM server address must not hold a user name or password (@):"
            " enter the credentials in their own fields."
        )
    if "?" in text or "#" in text:
        raise CrmcomConfigurationError("The CRM.COM server address must not hold ? or #.")
    try:
        parts = parse_url(text)
        split = urlsplit(text)
        split_host = split.hostname
        port = parts.port
    except ValueError:  # urllib3's LocationParseError is a ValueError
        raise CrmcomConfigurationError(
            "The CRM.COM server address is not a valid address."
        ) from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https") or not parts.host:
        raise CrmcomConfigurationError(
            "The CRM.COM server address must start with https:// and name a host."
        )
    host = parts.host.lower()
    if (split_host or "").lower() != host.strip("[]") or parts.auth is not None:
        raise CrmcomConfigurationError("The CRM.COM server address is not a valid address.")
    if scheme == "http" and not is_loopback_host(host):
        raise CrmcomConfigurationError(
            "The CRM.COM server address must use https:// (plain http:// is only allowed"
            " for a server on this machine)."
        )
    path = (parts.path or "").rstrip("/")
    if "/crmapi/rest/" not in path + "/":
        path += API_PATH.rstrip("/")
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}/"


def is_loopback_host(host):
    """True for ``localhost`` and loopback IP addresses (``[::1]`` included)."""
    host = (host or "").lower().strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_zone(value):
    if value is None or isinstance(value, datetime.tzinfo):
        return value
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise CrmcomConfigurationError(
            "The CRM.COM server time zone must be a zone name such as Europe/Nicosia."
        ) from None


def _words(error):
    return " ".join((error.code, error.api_message, error.description))


def is_token_error(error):
    """True when a refusal speaks of the session token (HTTP 401, or its words), and
    not of a customer's access token or identifier."""
    if not isinstance(error, CrmcomApiError):
        return False
    if error.http_status == 401:
        return True
    return not _CUSTOMER_WORDS.search(_words(error)) and bool(_SESSION_WORDS.search(_words(error)))


@dataclass
class CallRecord:
    """What ``on_call`` receives after every HTTP exchange (secrets already removed)."""

    operation: str
    http_method: str
    request: dict
    response: object
    outcome: str
    duration: float
    http_status: int | None = None
    error: CrmcomError | None = None


class CrmcomClient:
    """A CRM.COM Web API v2 client.

    Authenticate with ``web_api_key`` or with ``username`` + ``password`` +
    ``organisation``; ``unit`` is the optional unit id the token is issued for.
    ``timeout`` is ``(connect, read)`` in seconds. ``on_call`` is called with a
    :class:`CallRecord` after each exchange (for audit logs). ``server_timezone`` is
    CRM.COM's time zone (a name or a tzinfo) when it is known; ``session_check_after``
    the seconds after which an unreadable refusal is taken for an expired session
    (see the module docstring). ``token_store`` (a :class:`tokens.SharedTokenStore`)
    shares the token with other processes: one login for all of them.
    """

    def __init__(
        self,
        base_url,
        *,
        web_api_key=None,
        username=None,
        password=None,
        organisation=None,
        unit=None,
        timeout=DEFAULT_TIMEOUT,
        read_retries=2,
        retry_backoff=0.25,
        session=None,
        token_cache=None,
        token_store=None,
        on_call=None,
        server_timezone=None,
        session_check_after=SESSION_CHECK_AFTER,
    ):
        self.base_url = normalise_base_url(base_url)
        if web_api_key and (username or password):
            raise CrmcomConfigurationError(
                "Use either a Web API key or a username and password, not both."
            )
        if not web_api_key and not (username and password and organisation):
            raise CrmcomConfigurationError(
                "CRM.COM needs a Web API key, or a username, password and organisation."
            )
        self.timeout = self._checked_timeout(timeout)
        self.read_retries = max(0, int(read_retries))
        self.retry_backoff = max(0.0, float(retry_backoff))
        self.unit = unit or None
        self._web_api_key = web_api_key
        self._username = username
        self._password = password
        self._organisation = organisation
        self._session = session or shared_session(self.base_url)
        self._tokens = token_cache or default_token_cache
        self._token_store = token_store
        self._cache_key = credentials_key(
            self.base_url, web_api_key, username, password, organisation, unit
        )
        self._on_call = on_call
        self.server_timezone = _server_zone(server_timezone)
        self.session_check_after = max(0.0, float(session_check_after))

    @staticmethod
    def _checked_timeout(timeout):
        if isinstance(timeout, int | float):
            timeout = (timeout, timeout)
        try:
            connect, read = (float(value) for value in timeout)
        except (TypeError, ValueError):
            raise CrmcomConfigurationError("The timeout must be (connect, read) seconds.") from None
        if connect <= 0 or read <= 0:
            raise CrmcomConfigurationError("Timeouts must be positive numbers of seconds.")
        return (connect, read)

    @property
    def uses_web_api_key(self):
        return bool(self._web_api_key)

    def _secrets(self, token=None):
        return tuple(filter(None, (self._web_api_key, self._password, token)))

    # ------------------------------------------------------------------ transport

    def _send(self, http_method, operation, params, *, token=None, auth=None):
        """One HTTP exchange; returns ``data`` of an OK envelope or raises."""
        url = self.base_url + operation
        body = dict(params)
        if token:
            body["token"] = token
        # Never follow a redirect: it would carry the body (the login, the token) and
        # the Basic auth header to wherever the answer points.
        kwargs = {"timeout": self.timeout, "auth": auth, "allow_redirects": False}
        if http_method == "GET":
            url += "?" + _flatten_query(body)
        else:
            kwargs["json"] = body
        started = time.monotonic()
        response = answer = None
        try:
            try:
                response = self._session.request(http_method, url, **kwargs)
            except requests.exceptions.RequestException as exc:
                raise self._transport_error(exc, operation) from None
            if response.is_redirect or 300 <= response.status_code < 400:
                raise self._redirect_error(response, operation)
            answer = _parse_json(response)
            data = self._read_envelope(response.status_code, answer, operation, token)
        except CrmcomError as error:
            self._record(operation, http_method, body, response, answer, started, error)
            raise
        self._record(operation, http_method, body, response, answer, started, None)
        return data

    @property
    def _host(self):
        return urlsplit(self.base_url).netloc  # no user info: normalise_base_url refuses it

    def _redirect_error(self, response, operation):
        location = None
        try:
            target = parse_url(response.headers.get("Location") or "")
            if target.host:
                location = f"{target.scheme or 'http'}://{target.host}"
                if target.port:
                    location += f":{target.port}"
        except ValueError:
            location = None
        where = f" to {location}" if location else ""
        return CrmcomRedirectError(
            f"CRM.COM at {self._host} answered with a redirect (HTTP {response.status_code})"
            f"{where}. Redirects are never followed, as they would send the credentials"
            " elsewhere: check the server address (https://, host and path).",
            operation=operation,
            http_status=response.status_code,
            location=location,
        )

    def _transport_error(self, exc, operation):
        host = self._host
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return CrmcomTimeoutError(
                f"CRM.COM at {host} did not accept the connection in time.",
                operation=operation,
                maybe_applied=False,
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return CrmcomTimeoutError(
                f"CRM.COM at {host} did not answer in time.",
                operation=operation,
                maybe_applied=True,
            )
        if isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc):
            return CrmcomConnectionError(
                f"CRM.COM at {host} cannot be reached.", operation=operation, maybe_applied=False
            )
        return CrmcomConnectionError(
            f"The connection to CRM.COM at {host} broke before an answer came back.",
            operation=operation,
            maybe_applied=True,
        )

    def _read_envelope(self, status_code, body, operation, token):
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, dict) or not isinstance(status.get("code"), str):
            raise CrmcomProtocolError(
                f"The server did not answer like CRM.COM (HTTP {status_code},"
                f" {'no status envelope' if body is not None else 'not JSON'}).",
                operation=operation,
                # Anything but a refusal before processing may hide an applied request.
                maybe_applied=status_code >= 500 or status_code < 400,
                http_status=status_code,
            )
        if status["code"].upper() != "OK":
            secrets = self._secrets(token)
            raise CrmcomApiError(
                scrub(status["code"], secrets),
                scrub(_text(status.get("message")), secrets),
                scrub(_text(status.get("description")), secrets),
                operation=operation,
                http_status=status_code,
            )
        if status_code >= 400:
            raise CrmcomProtocolError(
                f"CRM.COM answered OK with HTTP {status_code}.",
                operation=operation,
                maybe_applied=True,
                http_status=status_code,
            )
        return body.get("data")

    def _record(self, operation, http_method, body, response, answer, started, error):
        if self._on_call is None:
            return
        duration = time.monotonic() - started
        secrets = self._secrets(body.get("token"))
        if answer is not None:
            answer = redact(answer, secrets)
        elif response is not None:
            answer = scrub(response.text[:2000], secrets)
        if error is None:
            outcome = "OK"
        elif isinstance(error, CrmcomApiError):
            outcome = error.code
        elif isinstance(error, CrmcomTimeoutError):
            outcome = "TIMEOUT"
        elif isinstance(error, CrmcomConnectionError):
            outcome = "CONNECTION_ERROR"
        else:
            outcome = "PROTOCOL_ERROR"
        record = CallRecord(
            operation=operation,
            http_method=http_method,
            request=redact(body, secrets),
            response=answer,
            outcome=outcome,
            duration=duration,
            http_status=response.status_code if response is not None else None,
            error=error,
        )
        try:
            self._on_call(record)
        except Exception:  # an audit failure must never break a sale
            _logger.exception("CRM.COM call hook failed for %s", operation)

    def _with_retries(self, send, *, retry):
        attempt = 0
        while True:
            try:
                return send()
            except (CrmcomConnectionError, CrmcomTimeoutError, CrmcomProtocolError) as error:
                retryable = (
                    retry
                    and attempt < self.read_retries
                    and (
                        isinstance(error, CrmcomConnectionError)
                        or (isinstance(error, CrmcomTimeoutError) and not error.maybe_applied)
                        or getattr(error, "http_status", None) in _RETRYABLE_HTTP
                    )
                )
                if not retryable:
                    raise
                attempt += 1
                time.sleep(self.retry_backoff * attempt)

    # -------------------------------------------------------------- authentication

    def login(self):
        """Log in now (ignoring the cache), keep and return the token."""
        token = self._login()
        self._tokens.store(self._cache_key, token, shared=self._token_store)
        return token

    def _login(self):
        if self._web_api_key:
            operation = "authentication/web_api_key/token"
            params = {"unit": self.unit} if self.unit else {}
            auth = (self._web_api_key, "")
        else:
            operation = "authentication/token"
            params = {
                "username": self._username,
                "password": self._password,
                "organisation": self._organisation,
            }
            if self.unit:
                params["unit"] = self.unit
            auth = None
        try:
            data = self._with_retries(
                lambda: self._send("POST", operation, params, auth=auth), retry=True
            )
        except CrmcomApiError as error:
            raise CrmcomAuthenticationError(
                error.code, error.api_message, error.description, operation=operation
            ) from None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise CrmcomProtocolError(
                "CRM.COM accepted the login but sent no token.", operation=operation
            )
        _logger.info("Logged in to CRM.COM at %s", self._host)
        return token

    def _token(self):
        return self._tokens.fetch(self._cache_key, self._login, shared=self._token_store)

    def release_token(self):
        """Give the cached token back to CRM.COM (the docs ask for it when done)."""
        token = self._tokens.get(self._cache_key)
        if not token:
            return False
        self._tokens.invalidate(self._cache_key, token, shared=self._token_store)
        self._send("POST", "authentication/token/release", {}, token=token)
        return True

    def call(
        self, operation, params=None, *, http_method="POST", safe=False, identifies_customer=False
    ):
        """Call ``operation`` with ``params`` (token added) and return ``data``.

        ``safe`` calls (reads) are retried on connection failures. A refusal taken for
        the session renews the token once and resends the request: a refusal means
        the request was not applied, so sending it again is safe for every call. How
        a refusal is read is the module docstring's rule; ``identifies_customer``
        marks an identification (its "not found" is a CrmcomNotFoundError).
        """
        params = dict(params or {})

        def send_with(token):
            data = self._with_retries(
                lambda: self._send(http_method, operation, params, token=token), retry=safe
            )
            self._tokens.accepted(self._cache_key, token)
            return data

        token = self._token()
        try:
            return send_with(token)
        except (CrmcomApiError, CrmcomProtocolError) as error:
            verdict = self._read_refusal(error, token, identifies_customer)
            if verdict not in (SESSION_CODE, _DOUBTFUL):
                raise _typed(error, verdict) from None
            first = error
            self._tokens.invalidate(self._cache_key, token, shared=self._token_store)
        token = self._token()
        try:
            data = send_with(token)
        except (CrmcomApiError, CrmcomProtocolError) as error:
            same = getattr(error, "code", None) == getattr(first, "code", None)
            if verdict == _DOUBTFUL and same and isinstance(error, CrmcomApiError):
                self._tokens.learn(self._cache_key, error.code, REQUEST_CODE)
                verdict = self._request_verdict(error, identifies_customer)
                raise _typed(error, verdict) from None
            verdict = self._read_refusal(error, token, identifies_customer)
            if verdict == SESSION_CODE:
                if isinstance(error, CrmcomApiError):
                    raise CrmcomAuthenticationError(
                        error.code,
                        error.api_message,
                        error.description,
                        operation=operation,
                        http_status=error.http_status,
                    ) from None
                raise CrmcomAuthenticationError(
                    f"HTTP_{error.http_status}",
                    "CRM.COM refused the new token too.",
                    operation=operation,
                    http_status=error.http_status,
                ) from None
            raise _typed(error, verdict if verdict != _DOUBTFUL else REQUEST_CODE) from None
        if verdict == _DOUBTFUL and isinstance(first, CrmcomApiError):
            self._tokens.learn(self._cache_key, first.code, SESSION_CODE)
        return data

    def _read_refusal(self, error, token, identifies_customer):
        """What a refusal of a call made with ``token`` is about: SESSION_CODE,
        REQUEST_CODE, _NOT_FOUND or _DOUBTFUL (the module docstring's rule)."""
        if error.http_status == 401:
            return SESSION_CODE
        if not isinstance(error, CrmcomApiError):  # an answer without envelope
            return _NOT_READ
        idle, previous = self._tokens.refused(self._cache_key, token, error.code)
        code = error.code
        text = f"{error.api_message} {error.description}"
        if _CUSTOMER_WORDS.search(code) or (
            _CUSTOMER_WORDS.search(text) and not _REQUEST_WORDS.search(code)
        ):
            return _NOT_FOUND if identifies_customer else REQUEST_CODE
        names_request = _REQUEST_WORDS.search(code) or _NOT_FOUND_WORDS.search(code)
        if _SESSION_WORDS.search(code) or (_SESSION_WORDS.search(text) and not names_request):
            return SESSION_CODE
        learned = self._tokens.learned(self._cache_key, code)
        if learned == SESSION_CODE:
            return SESSION_CODE
        if learned == REQUEST_CODE or names_request:
            return self._request_verdict(error, identifies_customer)
        if idle >= self.session_check_after or previous == code:
            return _DOUBTFUL
        return REQUEST_CODE

    @staticmethod
    def _request_verdict(error, identifies_customer):
        if identifies_customer and _NOT_FOUND_WORDS.search(error.code):
            return _NOT_FOUND
        return REQUEST_CODE

    # ----------------------------------------------------------------- API calls

    def show_rewards_participant(self, identifier, *, fields_set=None):
        """``rewards_participants/show``; ``identifier`` from
        :func:`payloads.rewards_participant_identifier`. No such customer (whatever
        code the server uses for it): :class:`CrmcomNotFoundError`."""
        params = {"rewards_participant_identifier": dict(identifier)}
        _add_fields_set(params, fields_set)
        return self.call("rewards_participants/show", params, safe=True, identifies_customer=True)

    def preview_purchase(self, purchase, *, fields_set=None):
        """``customer_events/purchases/preview`` of a :class:`payloads.Purchase`."""
        params = purchase.to_payload(zone=self.server_timezone)
        _add_fields_set(params, fields_set)
        return self.call("customer_events/purchases/preview", params, safe=True)

    def create_purchase(self, purchase, *, fields_set=None):
        """``customer_events/purchases/create``: sent once, never retried here."""
        params = purchase.to_payload(zone=self.server_timezone)
        _add_fields_set(params, fields_set)
        return self.call("customer_events/purchases/create", params)

    def create_spend_request(self, *, fields_set=None, **spend):
        """``customer_events/spend_requests/create``; keyword arguments as
        :func:`payloads.spend_request_payload`. Sent once, never retried here."""
        params = payloads.spend_request_payload(zone=self.server_timezone, **spend)
        _add_fields_set(params, fields_set)
        return self.call("customer_events/spend_requests/create", params)

    def cancel_purchase(self, event, *, fields_set=None):
        """``customer_events/purchases/cancel``; ``event`` is a customer event
        identifier object (``{"id": ...}`` or ``{"number": ...}``).

        A refused cancel is checked by reading the purchase (whatever code CRM.COM
        uses): when it is CANCELLED already, :class:`CrmcomAlreadyCancelledError`
        (with the purchase) is raised instead of the refusal."""
        params = {"customer_event_identifier": payloads.customer_event_identifier(**event)}
        _add_fields_set(params, fields_set)
        try:
            return self.call("customer_events/purchases/cancel", params)
        except CrmcomAuthenticationError:
            raise
        except CrmcomApiError as error:
            try:
                purchase = self.show_purchase(event)
                cancelled = not read_purchase(purchase).is_posted
            except CrmcomError:
                raise error from None
            if not cancelled:
                raise
            raise _retyped(error, CrmcomAlreadyCancelledError, purchase=purchase) from None

    def show_purchase(self, event, *, fields_set=None):
        """``GET customer_events/purchases/show``."""
        params = {"customer_event_identifier": payloads.customer_event_identifier(**event)}
        _add_fields_set(params, fields_set)
        return self.call("customer_events/purchases/show", params, http_method="GET", safe=True)

    def list_purchases(
        self,
        customer,
        *,
        submitted_after=None,
        submitted_before=None,
        number_of_results=None,
        offset=None,
        fields_set=None,
    ):
        """One page of ``customer_events/purchases/list`` for an accounts receivable
        identifier object. ``submitted_after`` / ``submitted_before`` are moments
        (aware datetimes; naive ones are UTC), sent as the module docstring says:
        widened by the spread of time zones unless ``server_timezone`` is known, so
        the page may hold purchases a little outside them, never miss one inside."""
        params = {"accounts_receivable_identifier": dict(customer)}
        if submitted_after is not None:
            params["submitted_after_date"] = self._lookup_bound(submitted_after, after=True)
        if submitted_before is not None:
            params["submitted_before_date"] = self._lookup_bound(submitted_before, after=False)
        if number_of_results is not None:
            params["number_of_results"] = int(number_of_results)
        if offset is not None:
            params["offset"] = int(offset)
        _add_fields_set(params, fields_set)
        data = self.call("customer_events/purchases/list", params, safe=True)
        if data is None:
            return []
        if not isinstance(data, list):
            raise CrmcomProtocolError(
                "CRM.COM answered the purchase list with something else than a list.",
                operation="customer_events/purchases/list",
            )
        return data

    def iter_purchases(self, customer, *, page_size=50, max_pages=100, **filters):
        """Every purchase of ``customer``, page by page (``number_of_results``/``offset``)."""
        for page in range(max_pages):
            items = self.list_purchases(
                customer, number_of_results=page_size, offset=page * page_size, **filters
            )
            yield from items
            if len(items) < page_size:
                return

    def find_purchase(self, customer, reference_number, *, submitted_after=None, **paging):
        """The purchase of ``customer`` with ``reference_number``, or None.

        Used before sending again a create whose outcome is unknown. The filter is
        applied here: ``purchases/list`` documents no reference number filter.
        ``submitted_after`` is the moment before which the purchase cannot have been
        submitted (aware, or naive UTC); whatever CRM.COM's time zone, the lookup
        does not miss a purchase submitted after it.
        """
        for purchase in self.iter_purchases(customer, submitted_after=submitted_after, **paging):
            if isinstance(purchase, dict) and purchase.get("reference_number") == reference_number:
                return purchase
        return None

    def _lookup_bound(self, value, *, after):
        """A purchases/list bound as sent: in the server's zone when known, else
        widened by the spread of time zones (a zone-less date that no server zone
        can put on the wrong side)."""
        if isinstance(value, str):
            return payloads.format_date(value)
        if not isinstance(value, datetime.datetime):
            raise ValueError(f"a date and time is required, not {value!r}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        if self.server_timezone is not None:
            return payloads.format_date(value, zone=self.server_timezone)
        value = value.astimezone(datetime.timezone.utc)
        value += EARLIEST_UTC_OFFSET if after else LATEST_UTC_OFFSET
        return payloads.format_date(value.replace(tzinfo=None))


_DOUBTFUL = "doubtful"
_NOT_FOUND = "not_found"
_NOT_READ = "not_read"


def _typed(error, verdict):
    """The error a caller gets for a refusal read as ``verdict``."""
    if verdict == _NOT_FOUND and isinstance(error, CrmcomApiError):
        return _retyped(error, CrmcomNotFoundError)
    return error


def _retyped(error, error_class, **extra):
    """The refusal ``error`` as a ``error_class`` (a CrmcomApiError subclass)."""
    return error_class(
        error.code,
        error.api_message,
        error.description,
        operation=error.operation,
        http_status=error.http_status,
        **extra,
    )


def _parse_json(response):
    """The decoded JSON answer (amounts as Decimal), or None when it is not JSON."""
    try:
        return response.json(parse_float=Decimal)
    except ValueError:
        return None


def _add_fields_set(params, fields_set):
    if fields_set:
        if not isinstance(fields_set, str):
            fields_set = ",".join(fields_set)
        params["fields_set"] = fields_set


def _text(value):
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _flatten_query(params):
    """GET parameters as documented: identifier objects become ``name=key=value``."""
    pairs = []
    for name, value in params.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                pairs.append((name, f"{key}={inner}"))
        else:
            pairs.append((name, value))
    return urlencode(pairs, safe="=,", quote_via=quote)


def _never_connected(exc):
    """True when the error happened before the request could be sent."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(
        reason,
        urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError,
    ) or isinstance(exc, requests.exceptions.SSLError)
