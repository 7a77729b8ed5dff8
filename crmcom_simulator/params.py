"""Validation of request parameters.

Every reader raises ApiError (MANDATORY_PARAMETER_MISSING / INVALID_PARAMETER) with the
parameter's name, so the whole request is checked before any state is touched.
JSON null counts as "not given".
"""

import json
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl

from .errors import INVALID_REQUEST, ApiError, invalid, missing
from .money import to_money

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"

ACCESS_TOKEN_KEYS = ("authentication_code", "identifier", "pass_code")


def is_number(value):
    # bool is an int in Python but never a valid amount
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def parse_number(value, name, *, positive=False):
    """A JSON number ≥ 0 (> 0 with positive=True), as an exact Decimal."""
    if not is_number(value):
        raise invalid(name, f"'{name}' must be a number, not {type(value).__name__}.")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise invalid(name, f"'{name}' must be a finite number.")
    if number < 0 or (positive and number == 0):
        bound = "greater than zero" if positive else "zero or more"
        raise invalid(name, f"'{name}' must be {bound}.")
    return number


def parse_money(value, name, *, positive=False, strict=False):
    """An amount rounded half-up to cents; with ``strict`` (settings.strict) more than
    two decimals are refused instead."""
    number = parse_number(value, name, positive=positive)
    amount = to_money(number)
    if strict and amount != number:
        raise invalid(name, f"'{name}' must have at most two decimals, not {value}.")
    if positive and amount == 0:
        raise invalid(name, f"'{name}' must be at least 0.01.")
    return amount


def parse_string(value, name):
    if not isinstance(value, str):
        raise invalid(name, f"'{name}' must be a string.")
    if not value.strip():
        raise invalid(name, f"'{name}' must not be empty.")
    return value


def parse_datetime(value, name, *, allow_date_only=False):
    text = parse_string(value, name)
    formats = (DATETIME_FORMAT, DATE_FORMAT) if allow_date_only else (DATETIME_FORMAT,)
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    expected = " or ".join(f.replace("%", "") for f in formats)
    raise invalid(name, f"'{name}' must be a date in the form {expected}: {text!r}.")


def parse_identifier(value, name, allowed):
    """An identifier object holding exactly one of the allowed keys.

    Returns (key, value); the value of access_token_identifier is itself parsed.
    """
    if not isinstance(value, dict):
        raise invalid(name, f"'{name}' must be an object with one of: {_keys(allowed)}.")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise invalid(
            name,
            f"'{name}' does not accept {_keys(unknown)}; use one of {_keys(allowed)}.",
        )
    given = [key for key in allowed if value.get(key) is not None]
    if len(given) != 1:
        raise invalid(
            name,
            f"'{name}' must hold exactly one of {_keys(allowed)}; got {len(given)}.",
        )
    key = given[0]
    inner_name = f"{name}.{key}"
    if key == "access_token_identifier":
        return key, parse_access_token_identifier(value[key], inner_name)
    return key, parse_string(value[key], inner_name)


def parse_access_token_identifier(value, name):
    """{authentication_code} or {identifier, pass_code}, as a dict of strings."""
    if not isinstance(value, dict):
        raise invalid(name, f"'{name}' must be an object.")
    unknown = [key for key in value if key not in ACCESS_TOKEN_KEYS]
    if unknown:
        raise invalid(
            name,
            f"'{name}' does not accept {_keys(unknown)}; "
            f"use authentication_code, or identifier with pass_code.",
        )
    code = value.get("authentication_code")
    identifier = value.get("identifier")
    pass_code = value.get("pass_code")
    if (code is None) == (identifier is None):
        raise invalid(name, f"'{name}' must hold exactly one of authentication_code, identifier.")
    if code is not None:
        if pass_code is not None:
            raise invalid(name, "pass_code goes only with identifier.")
        return {"authentication_code": parse_string(code, f"{name}.authentication_code")}
    if pass_code is None:
        raise missing(f"{name}.pass_code")
    return {
        "identifier": parse_string(identifier, f"{name}.identifier"),
        "pass_code": parse_string(pass_code, f"{name}.pass_code"),
    }


def _keys(names):
    return ", ".join(names)


class Params:
    """Typed, validating access to a request's parameters."""

    def __init__(self, data, *, strict=False):
        self._data = data
        self.strict = strict

    def given(self, name):
        return self._data.get(name) is not None

    def raw(self, name):
        return self._data.get(name)

    def _value(self, name, required):
        value = self._data.get(name)
        if value is None and required:
            raise missing(name)
        return value

    def string(self, name, *, required=False):
        value = self._value(name, required)
        return None if value is None else parse_string(value, name)

    def money(self, name, *, required=False, positive=False):
        value = self._value(name, required)
        if value is None:
            return None
        return parse_money(value, name, positive=positive, strict=self.strict)

    def datetime(self, name, *, required=False, allow_date_only=False):
        value = self._value(name, required)
        if value is None:
            return None
        return parse_datetime(value, name, allow_date_only=allow_date_only)

    def integer(self, name, *, default, minimum, maximum):
        value = self._data.get(name)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(name, f"'{name}' must be a whole number.")
        if not minimum <= value <= maximum:
            raise invalid(name, f"'{name}' must be between {minimum} and {maximum}.")
        return value

    def identifier(self, name, allowed, *, required=False):
        value = self._value(name, required)
        return None if value is None else parse_identifier(value, name, allowed)

    def one_identifier_of(self, options):
        """Semi-optional identifiers: exactly one of options {name: allowed keys}.

        Returns (name, (key, value)).
        """
        present = [name for name in options if self.given(name)]
        if not present:
            raise missing(*options)
        if len(present) > 1:
            raise invalid(present[0], f"Specify only one of {_keys(options)}, not several.")
        name = present[0]
        return name, self.identifier(name, options[name], required=True)

    def fields_set(self):
        """The comma-separated top-level field names to keep, or None for all."""
        value = self._data.get("fields_set")
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid("fields_set", "'fields_set' must be a comma-separated string.")
        names = [part.strip() for part in value.split(",") if part.strip()]
        return names or None


# ---- decoding the wire format ----------------------------------------------------


def _reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def decode_json_body(body, *, optional=False):
    """A POST body → dict. Floats become exact Decimals; NaN/Infinity are refused."""
    if not body.strip() and optional:
        return {}
    try:
        data = json.loads(
            body.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(INVALID_REQUEST, "The request body is not valid JSON.", str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(
            INVALID_REQUEST,
            "The request body must be a JSON object.",
            f"Got a JSON {type(data).__name__}.",
        )
    return data


def decode_query(query):
    """A GET query string → dict; identifiers come flattened as name=key=value."""
    data = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.endswith("_identifier") and "=" in value:
            key, nested = _unflatten(value)
            target = data.setdefault(name, {})
            if not isinstance(target, dict) or key in target:
                raise invalid(name, f"'{name}' is given twice.")
            target[key] = nested
        elif name in data:
            raise invalid(name, f"'{name}' is given twice.")
        else:
            data[name] = value
    return data


def _unflatten(text):
    """ "number=CE1" → ("number", "CE1"); nested identifiers recurse."""
    key, _, value = text.partition("=")
    if key.endswith("_identifier") and "=" in value:
        inner_key, inner_value = _unflatten(value)
        return key, {inner_key: inner_value}
    return key, value
