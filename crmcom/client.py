"""The CRM.COM Web API v2 client: one method per API call, on a pooled requests session.

Success is ``status.code == "OK"`` in the JSON envelope and nothing else (CRM.COM does
not document HTTP status codes). Reads and logins are retried on connection failures;
creates, spends and cancels are sent once and report whether they may have been applied.
"""

import logging
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from . import payloads
from .errors import (
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomError,
    CrmcomProtocolError,
    CrmcomTimeoutError,
)
from .redaction import install_log_filter, redact, scrub
from .tokens import credentials_key, default_token_cache

_logger = logging.getLogger(__name__)
install_log_filter()

API_PATH = "/crmapi/rest/v2/"
DEFAULT_TIMEOUT = (5.0, 30.0)
# Undocumented error codes: an answer is taken for "token invalid or expired" when its
# code speaks of the token, the session or authentication.
_TOKEN_ERROR = re.compile(r"TOKEN|SESSION|AUTHENTICAT|UNAUTHORI[SZ]ED|LOGIN", re.I)
# Answers of a proxy in front of CRM.COM: retried for reads only.
_RETRYABLE_HTTP = frozenset({502, 503, 504})

# Connections kept per CRM.COM host: also the most requests a process may have in
# flight at once without opening throw-away connections.
POOL_SIZE = 32

_sessions = {}
_sessions_lock = threading.Lock()


def shared_session(base_url, *, pool_size=POOL_SIZE):
    """One pooled session per CRM.COM host, shared by every client in the process."""
    netloc = urlsplit(base_url)[:2]
    with _sessions_lock:
        session = _sessions.get(netloc)
        if session is None:
            session = requests.Session()
            # Retries are decided here, per call, never by urllib3 behind our back.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"Accept": "application/json"})
            _sessions[netloc] = session
        return session


def normalise_base_url(base_url):
    """``https://host`` or ``https://host/crmapi/rest/v2`` → the API root URL."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise CrmcomConfigurationError("The CRM.COM server address is missing.")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CrmcomConfigurationError(
            "The CRM.COM server address must start with https:// and name a host."
        )
    if parts.query or parts.fragment:
        raise CrmcomConfigurationError("The CRM.COM server address must not hold ? or #.")
    path = parts.path.rstrip("/")
    if "/crmapi/rest/" not in path + "/":
        path += API_PATH.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}/"


def is_token_error(error):
    return isinstance(error, CrmcomApiError) and bool(_TOKEN_ERROR.search(error.code))


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
    :class:`CallRecord` after each exchange (for audit logs).
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
        on_call=None,
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
        self._cache_key = credentials_key(
            self.base_url, web_api_key, username, password, organisation, unit
        )
        self._on_call = on_call

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
        kwargs = {"timeout": self.timeout, "auth": auth}
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
            answer = _parse_json(response)
            data = self._read_envelope(response.status_code, answer, operation, token)
        except CrmcomError as error:
            self._record(operation, http_method, body, response, answer, started, error)
            raise
        self._record(operation, http_method, body, response, answer, started, None)
        return data

    def _transport_error(self, exc, operation):
        host = urlsplit(self.base_url).netloc
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
        self._tokens.store(self._cache_key, token)
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
        _logger.info("Logged in to CRM.COM at %s", urlsplit(self.base_url).netloc)
        return token

    def _token(self):
        return self._tokens.fetch(self._cache_key, self._login)

    def release_token(self):
        """Give the cached token back to CRM.COM (the docs ask for it when done)."""
        token = self._tokens.get(self._cache_key)
        if not token:
            return False
        self._tokens.invalidate(self._cache_key, token)
        self._send("POST", "authentication/token/release", {}, token=token)
        return True

    def call(self, operation, params=None, *, http_method="POST", safe=False):
        """Call ``operation`` with ``params`` (token added) and return ``data``.

        ``safe`` calls (reads) are retried on connection failures. A refused token is
        renewed once: such a refusal means the request was not applied, so sending it
        again is safe for every call.
        """
        params = dict(params or {})

        def send_with(token):
            return self._with_retries(
                lambda: self._send(http_method, operation, params, token=token), retry=safe
            )

        token = self._token()
        try:
            return send_with(token)
        except CrmcomApiError as error:
            if not is_token_error(error):
                raise
            self._tokens.invalidate(self._cache_key, token)
        try:
            return send_with(self._token())
        except CrmcomApiError as error:
            if is_token_error(error):
                raise CrmcomAuthenticationError(
                    error.code, error.api_message, error.description, operation=operation
                ) from None
            raise

    # ----------------------------------------------------------------- API calls

    def show_rewards_participant(self, identifier, *, fields_set=None):
        """``rewards_participants/show``; ``identifier`` from
        :func:`payloads.rewards_participant_identifier`."""
        params = {"rewards_participant_identifier": dict(identifier)}
        _add_fields_set(params, fields_set)
        return self.call("rewards_participants/show", params, safe=True)

    def preview_purchase(self, purchase, *, fields_set=None):
        """``customer_events/purchases/preview`` of a :class:`payloads.Purchase`."""
        params = purchase.to_payload()
        _add_fields_set(params, fields_set)
        return self.call("customer_events/purchases/preview", params, safe=True)

    def create_purchase(self, purchase, *, fields_set=None):
        """``customer_events/purchases/create``: sent once, never retried here."""
        params = purchase.to_payload()
        _add_fields_set(params, fields_set)
        return self.call("customer_events/purchases/create", params)

    def create_spend_request(self, *, fields_set=None, **spend):
        """``customer_events/spend_requests/create``; keyword arguments as
        :func:`payloads.spend_request_payload`. Sent once, never retried here."""
        params = payloads.spend_request_payload(**spend)
        _add_fields_set(params, fields_set)
        return self.call("customer_events/spend_requests/create", params)

    def cancel_purchase(self, event, *, fields_set=None):
        """``customer_events/purchases/cancel``; ``event`` is a customer event
        identifier object (``{"id": ...}`` or ``{"number": ...}``)."""
        params = {"customer_event_identifier": payloads.customer_event_identifier(**event)}
        _add_fields_set(params, fields_set)
        return self.call("customer_events/purchases/cancel", params)

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
        identifier object."""
        params = {"accounts_receivable_identifier": dict(customer)}
        if submitted_after is not None:
            params["submitted_after_date"] = payloads.format_date(submitted_after)
        if submitted_before is not None:
            params["submitted_before_date"] = payloads.format_date(submitted_before)
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
        """
        for purchase in self.iter_purchases(customer, submitted_after=submitted_after, **paging):
            if isinstance(purchase, dict) and purchase.get("reference_number") == reference_number:
                return purchase
        return None


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
