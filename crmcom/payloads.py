"""Builders for CRM.COM request bodies: strict shapes, every mandatory field.

Amounts are handled as Decimal and sent as JSON numbers rounded half-up to cents.
"""

# Identifier builders take ``id=`` because CRM.COM names the field so.
# pylint: disable=redefined-builtin

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def to_decimal(value, *, name="amount"):
    """A finite Decimal from an int, float, str or Decimal; ValueError otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def round_money(value, *, name="amount"):
    return to_decimal(value, name=name).quantize(CENT, rounding=ROUND_HALF_UP)


def money(value, *, name="amount"):
    """An amount as sent to CRM.COM: a JSON number with at most two decimals."""
    rounded = round_money(value, name=name)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def format_date(value, *, zone=None):
    """CRM.COM dates are ``YYYY-MM-DDTHH:MM:SS`` without a zone (the docs name none).

    An aware datetime is sent as the wall-clock time of ``zone`` (CRM.COM's zone,
    when the caller knows it), else of its own zone (the till's: the time of the
    sale as the customer saw it). A naive datetime is sent as it is."""
    if isinstance(value, str):
        datetime.datetime.strptime(value, DATE_FORMAT)  # raises ValueError if malformed
        return value
    if not isinstance(value, datetime.datetime):
        raise ValueError(f"a date and time is required, not {value!r}")
    if value.tzinfo is not None:
        if zone is not None:
            value = value.astimezone(zone)
        value = value.replace(tzinfo=None)
    return value.strftime(DATE_FORMAT)


def _identifier(kind, allowed, values):
    given = {key: value for key, value in values.items() if value not in (None, "")}
    if len(given) != 1 or not set(given) <= set(allowed):
        raise ValueError(
            f"a {kind} identifier needs exactly one of {', '.join(allowed)}"
            f" (got {', '.join(sorted(given)) or 'none'})"
        )
    return given


def access_token_identifier(authentication_code=None, *, identifier=None, pass_code=None):
    """A scanned card / phone / e-mail / app code is an ``authentication_code``;
    ``identifier`` must come with its ``pass_code``."""
    if identifier not in (None, ""):
        if authentication_code not in (None, ""):
            raise ValueError("give an authentication code or an identifier, not both")
        if pass_code in (None, ""):
            raise ValueError("an access token identifier needs its pass code")
        return {"identifier": str(identifier), "pass_code": str(pass_code)}
    if authentication_code in (None, ""):
        raise ValueError("an access token identifier needs an authentication code")
    return {"authentication_code": str(authentication_code).strip()}


def rewards_participant_identifier(*, id=None, number=None, access_token=None):  # noqa: A002
    """``access_token`` is the scanned code (str) or an access token identifier (dict)."""
    if isinstance(access_token, str):
        access_token = access_token_identifier(access_token)
    return _identifier(
        "rewards participant",
        ("id", "number", "access_token_identifier"),
        {"id": id, "number": number, "access_token_identifier": access_token},
    )


def accounts_receivable_identifier(*, id=None, number=None, name=None):  # noqa: A002
    return _identifier(
        "accounts receivable", ("id", "number", "name"), {"id": id, "number": number, "name": name}
    )


def unit_identifier(*, id=None, name=None, alternative_code=None):  # noqa: A002
    return _identifier(
        "unit",
        ("id", "name", "alternative_code"),
        {"id": id, "name": name, "alternative_code": alternative_code},
    )


def customer_event_identifier(*, id=None, number=None):  # noqa: A002
    return _identifier("customer event", ("id", "number"), {"id": id, "number": number})


def product_identifier(*, id=None, code=None, alternative_code=None):  # noqa: A002
    return _identifier(
        "product",
        ("id", "code", "alternative_code"),
        {"id": id, "code": code, "alternative_code": alternative_code},
    )


def _checked_identifier(value, kind, allowed):
    if not isinstance(value, dict):
        raise ValueError(f"the {kind} identifier must be an object, not {value!r}")
    return _identifier(kind, allowed, value)


@dataclass(frozen=True)
class PurchaseLine:
    """One ``products_set`` item; ``product`` is a product identifier object."""

    product: dict
    net_amount: Decimal
    vat_amount: Decimal
    total_amount: Decimal
    quantity: Decimal = Decimal(1)

    def __post_init__(self):
        _checked_identifier(self.product, "product", ("id", "code", "alternative_code"))
        for name in ("net_amount", "vat_amount", "total_amount", "quantity"):
            object.__setattr__(self, name, to_decimal(getattr(self, name), name=name))
        if abs(self.net_amount + self.vat_amount - self.total_amount) > CENT:
            raise ValueError(
                f"net {self.net_amount} + VAT {self.vat_amount}"
                f" does not make the total {self.total_amount}"
            )

    def to_payload(self):
        return {
            "product_identifier": dict(self.product),
            "quantity": float(self.quantity) if self.quantity % 1 else int(self.quantity),
            "net_amount": money(self.net_amount),
            "vat_amount": money(self.vat_amount),
            "total_amount": money(self.total_amount),
        }


@dataclass(frozen=True)
class Purchase:
    """A purchase customer event as sent to ``purchases/preview`` and ``/create``.

    ``customer`` is an accounts receivable identifier object, ``unit`` the
    performed-by unit identifier object; ``total_amount`` (and net / VAT) are the sums
    of the lines so that they always agree with ``products_set``. ``performed_on`` is
    the time of the sale, best aware (in the till's zone); see :func:`format_date`.
    """

    customer: dict
    unit: dict
    performed_on: datetime.datetime
    reference_number: str
    lines: tuple = field(default_factory=tuple)
    external_system: str | None = None
    external_system_reference_number: str | None = None
    description: str | None = None

    def __post_init__(self):
        _checked_identifier(
            self.customer,
            "accounts receivable",
            ("id", "number", "name", "access_token_identifier"),
        )
        _checked_identifier(self.unit, "unit", ("id", "name", "alternative_code"))
        if not isinstance(self.reference_number, str) or not self.reference_number.strip():
            raise ValueError("a purchase needs a reference number")
        object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            raise ValueError("a purchase needs at least one product line")
        if not all(isinstance(line, PurchaseLine) for line in self.lines):
            raise ValueError("purchase lines must be PurchaseLine objects")
        format_date(self.performed_on)

    @property
    def net_amount(self):
        return sum((round_money(line.net_amount) for line in self.lines), Decimal(0))

    @property
    def vat_amount(self):
        return sum((round_money(line.vat_amount) for line in self.lines), Decimal(0))

    @property
    def total_amount(self):
        return sum((round_money(line.total_amount) for line in self.lines), Decimal(0))

    def to_payload(self, *, zone=None):
        """The request body; ``zone`` is CRM.COM's time zone when known."""
        payload = {
            "accounts_receivable_identifier": dict(self.customer),
            "performed_by_unit_identifier": dict(self.unit),
            "performed_on": format_date(self.performed_on, zone=zone),
            "reference_number": self.reference_number,
            "total_amount": money(self.total_amount),
            "net_amount": money(self.net_amount),
            "vat_amount": money(self.vat_amount),
            "products_set": [line.to_payload() for line in self.lines],
        }
        optional = {
            "external_system": self.external_system,
            "external_system_reference_number": self.external_system_reference_number,
            "description": self.description,
        }
        payload.update({key: value for key, value in optional.items() if value})
        return payload


def spend_request_payload(
    *,
    customer,
    unit,
    performed_on,
    purchase,
    spend_amount,
    external_system=None,
    external_system_reference_number=None,
    description=None,
    zone=None,
):
    """Body of ``spend_requests/create``: ``purchase`` is the purchase's customer event
    identifier object, ``spend_amount`` the positive amount asked; ``zone`` is
    CRM.COM's time zone when known (see :func:`format_date`)."""
    amount = round_money(spend_amount, name="spend amount")
    if amount <= 0:
        raise ValueError("the spend amount must be positive")
    payload = {
        "accounts_receivable_identifier": _checked_identifier(
            customer, "accounts receivable", ("id", "number", "name", "access_token_identifier")
        ),
        "performed_by_unit_identifier": _checked_identifier(
            unit, "unit", ("id", "name", "alternative_code")
        ),
        "performed_on": format_date(performed_on, zone=zone),
        "purchase_customer_request_identifier": _checked_identifier(
            purchase, "customer event", ("id", "number")
        ),
        "spend_amount": money(amount),
    }
    optional = {
        "external_system": external_system,
        "external_system_reference_number": external_system_reference_number,
        "description": description,
    }
    payload.update({key: value for key, value in optional.items() if value})
    return payload
