"""The client's error hierarchy.

Every error says whether CRM.COM may have applied the request (``maybe_applied``):
``False`` means it certainly did not (the caller may send it again), ``True`` means
the outcome is unknown (the caller must look it up before sending it again).
"""


class CrmcomError(Exception):
    """Base class of every error raised by the CRM.COM client."""

    maybe_applied = False

    def __init__(self, message, *, operation=None, maybe_applied=None):
        super().__init__(message)
        self.message = message
        self.operation = operation
        if maybe_applied is not None:
            self.maybe_applied = maybe_applied

    def __str__(self):
        return self.message


class CrmcomConfigurationError(CrmcomError):
    """The client was given settings it cannot work with (nothing was sent)."""


class CrmcomApiError(CrmcomError):
    """CRM.COM answered with a status other than OK: the request was refused.

    CRM.COM documents no error codes: tell refusals apart by their class (below),
    not by ``code``, whose spelling differs between servers."""

    def __init__(self, code, message="", description="", *, operation=None, http_status=None):
        self.http_status = http_status
        self.code = code or "UNKNOWN"
        self.api_message = message or ""
        self.description = description or ""
        text = self.api_message or self.description or self.code
        if self.description and self.description != text:
            text = f"{text} ({self.description})"
        super().__init__(
            f"CRM.COM refused {operation or 'the request'}: [{self.code}] {text}",
            operation=operation,
            maybe_applied=False,
        )


class CrmcomAuthenticationError(CrmcomApiError):
    """CRM.COM refused the credentials, or a fresh token was refused again."""


class CrmcomNotFoundError(CrmcomApiError):
    """No customer has the identifier of an identification (``show_rewards_participant``):
    an unknown or not effective access token (card, phone, e-mail, app code), a wrong
    pass code, an unknown number or id. About the customer, never about the session:
    no new login was made for it."""


class CrmcomAlreadyCancelledError(CrmcomApiError):
    """A cancel was refused and the purchase, read again, is CANCELLED already (an
    earlier cancel whose answer was lost, say). ``purchase`` is the purchase as
    CRM.COM shows it now."""

    def __init__(self, code, message="", description="", *, purchase=None, **kwargs):
        super().__init__(code, message, description, **kwargs)
        self.purchase = purchase


class CrmcomTransportError(CrmcomError):
    """No usable answer came back over the network."""


class CrmcomConnectionError(CrmcomTransportError):
    """The connection failed: refused or unreachable (not sent), or broken after the
    request was sent (``maybe_applied``)."""


class CrmcomTimeoutError(CrmcomTransportError):
    """No answer in time: a connect time-out was never sent, a read time-out may have
    been applied."""


class CrmcomProtocolError(CrmcomError):
    """The server answered, but not as CRM.COM does (not JSON, no status envelope,
    an HTTP error page): the host may not be a CRM.COM server at all."""

    def __init__(self, message, *, operation=None, maybe_applied=None, http_status=None):
        super().__init__(message, operation=operation, maybe_applied=maybe_applied)
        self.http_status = http_status


class CrmcomRedirectError(CrmcomProtocolError):
    """The server address answered with a redirect (HTTP 3xx). Redirects are never
    followed: they would carry the login, the credentials and every token to another
    address. The request was not applied by CRM.COM (``maybe_applied`` is False);
    ``location`` is where it pointed (scheme, host and port only)."""

    def __init__(self, message, *, operation=None, http_status=None, location=None):
        super().__init__(message, operation=operation, maybe_applied=False, http_status=http_status)
        self.location = location


class CrmcomAnswerError(CrmcomProtocolError):
    """An OK answer the readers cannot use (not an object, the amount spent missing).

    The request was applied (``maybe_applied``): look it up before sending it again."""

    maybe_applied = True
