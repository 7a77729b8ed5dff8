"""Keep secrets out of logs, audit records and exception texts."""

import logging
import re

REDACTED = "***"
# Keys whose values are secrets wherever they appear in a request or an answer.
SECRET_KEYS = frozenset(
    {
        "token",
        "password",
        "pass_code",
        "one_time_password",
        "web_api_key",
        "api_key",
        "key",
        "authorization",
        "jwt",
    }
)
_QUERY_TOKEN = re.compile(r"((?:^|[?&\s])(?:token|api_key|password)=)[^&\s\"']+", re.I)


def redact(value, secrets=()):
    """Return a deep copy of ``value`` with every secret field replaced, and the
    ``secrets`` strings removed from every other text."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() in SECRET_KEYS and item
            else redact(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    if isinstance(value, str) and secrets:
        return scrub(value, secrets)
    return value


def scrub(text, secrets=()):
    """Remove known secret strings and ``token=`` query values from ``text``."""
    if not text:
        return text
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _QUERY_TOKEN.sub(r"\1" + REDACTED, text)


class QueryTokenFilter(logging.Filter):
    """urllib3 logs request URLs at DEBUG level; GET calls carry ``?token=``."""

    def filter(self, record):
        if record.args:
            record.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


def install_log_filter():
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, QueryTokenFilter) for f in logger.filters):
        logger.addFilter(QueryTokenFilter())
