"""What cashiers and the back office read: every failure in plain words (invariant
"clear words"), and the shapes of the till's answers."""

from ..crmcom import (
    CrmcomAnswerError,
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomProtocolError,
    CrmcomRedirectError,
    CrmcomTimeoutError,
)


def describe_error(env, error):
    """Plain words for a CRM.COM failure, or one of our own refusals."""
    if isinstance(error, CrmcomConfigurationError):
        return env._("CRM.COM is not configured: %(reason)s", reason=error)
    if isinstance(error, CrmcomAuthenticationError):
        return env._(
            "CRM.COM refused the credentials: check the Web API key, or the"
            " username, password and organisation (%(code)s).",
            code=error.code,
        )
    if isinstance(error, CrmcomTimeoutError):
        return env._("CRM.COM did not answer in time.")
    if isinstance(error, CrmcomConnectionError):
        if error.maybe_applied:
            return env._("The connection to CRM.COM broke before it answered.")
        return env._("CRM.COM cannot be reached: check the server address and the network.")
    if isinstance(error, CrmcomRedirectError):
        return env._(
            "The CRM.COM server address answered with a redirect, which is never followed"
            " (it would send the credentials elsewhere): check the server address."
        )
    if isinstance(error, CrmcomAnswerError):
        return env._("CRM.COM sent an answer that cannot be used (%(detail)s).", detail=error)
    if isinstance(error, CrmcomProtocolError):
        return env._("The server did not answer like a CRM.COM server: check the server address.")
    if isinstance(error, CrmcomApiError):
        return env._(
            "CRM.COM refused the request: %(message)s",
            message=error.api_message or error.description or error.code,
        )
    return str(error)  # our own errors, already in the user's language


def refusal(reason, message):
    """The till's answer to a call it cannot have: the sale goes on."""
    return {"ok": False, "reason": reason, "message": str(message)}


def till_failure(env, error):
    """What the cashier reads when CRM.COM cannot help now: the sale goes on."""
    reason = "not_configured" if isinstance(error, CrmcomConfigurationError) else "unavailable"
    if isinstance(error, CrmcomTimeoutError):
        reason = "timeout"
    return refusal(
        reason,
        env._(
            "%(problem)s You can finish the sale without rewards.",
            problem=describe_error(env, error),
        ),
    )


def notification(title, message, kind):
    """A back-office notification (client action); ``title`` may be False."""
    params = {"message": message, "type": kind, "sticky": kind != "success"}
    if title:
        params["title"] = title
    return {"type": "ir.actions.client", "tag": "display_notification", "params": params}
