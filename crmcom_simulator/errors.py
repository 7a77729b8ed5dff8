"""The error codes the simulator answers with, and the exception that carries one.

CRM.COM does not document its error codes (see crmcom-api.md section 3); these names
are the simulator's own and are listed in README.md.
"""

INVALID_REQUEST = "INVALID_REQUEST"
UNKNOWN_METHOD = "UNKNOWN_METHOD"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
MANDATORY_PARAMETER_MISSING = "MANDATORY_PARAMETER_MISSING"
INVALID_PARAMETER = "INVALID_PARAMETER"
NOT_FOUND = "NOT_FOUND"
INVALID_TOKEN = "INVALID_TOKEN"
INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
PARTICIPANT_NOT_EFFECTIVE = "PARTICIPANT_NOT_EFFECTIVE"
DUPLICATE_REFERENCE_NUMBER = "DUPLICATE_REFERENCE_NUMBER"
NOT_POSTED = "NOT_POSTED"
SPEND_LIMIT_VIOLATION = "SPEND_LIMIT_VIOLATION"
SPENDING_NOT_ALLOWED = "SPENDING_NOT_ALLOWED"
INSUFFICIENT_WALLET_BALANCE = "INSUFFICIENT_WALLET_BALANCE"
INTERNAL_ERROR = "INTERNAL_ERROR"
DUPLICATE_EXTERNAL_SYSTEM_REFERENCE_NUMBER = "DUPLICATE_EXTERNAL_SYSTEM_REFERENCE_NUMBER"

# Finer error names, answered with a shared code unless settings.error_codes names
# their own: (name, default code).
ACCESS_TOKEN_NOT_FOUND = "ACCESS_TOKEN_NOT_FOUND"  # -> NOT_FOUND
TOKEN_IDLE_EXPIRED = "TOKEN_IDLE_EXPIRED"  # -> INVALID_TOKEN
ALREADY_CANCELLED = "ALREADY_CANCELLED"  # -> NOT_POSTED
# Errors about the session token (answered with settings.session_error_http_status).
SESSION_ERRORS = frozenset({INVALID_TOKEN, TOKEN_IDLE_EXPIRED})


class ApiError(Exception):
    """A refused request: becomes the error envelope, and never changes state."""

    def __init__(self, code, message, description="", *, kind=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.description = description
        # The error's own name, for settings.error_codes (defaults to the code).
        self.kind = kind or code


class ControlError(Exception):
    """A refused /_simulator/ control request (answered with an HTTP 4xx)."""

    def __init__(self, message, http_status=400, code=INVALID_REQUEST):
        super().__init__(message)
        self.http_status = http_status
        self.code = code


def missing(*names):
    """A mandatory parameter is missing; several names = one of them is required."""
    quoted = " or ".join(f"'{name}'" for name in names)
    if len(names) == 1:
        message = f"The mandatory parameter {quoted} is missing."
    else:
        message = f"One of the parameters {quoted} is mandatory."
    return ApiError(MANDATORY_PARAMETER_MISSING, message, f"Specify {quoted}.")


def invalid(name, detail):
    return ApiError(INVALID_PARAMETER, f"The parameter '{name}' is invalid.", detail)


def not_found(what, detail="", *, kind=None):
    return ApiError(NOT_FOUND, f"The {what} was not found.", detail, kind=kind)
