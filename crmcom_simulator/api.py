"""The Web API v2 methods: routing, parameter validation, and the engine calls.

handle() turns one request into the `data` of a success envelope or raises ApiError.
"""

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from . import errors
from .errors import ApiError, invalid, missing
from .money import TOLERANCE, ZERO
from .params import (
    Params,
    decode_json_body,
    decode_query,
    parse_identifier,
    parse_money,
    parse_number,
)

AR_KEYS = ("id", "number", "name", "access_token_identifier")
RP_KEYS = ("id", "number", "access_token_identifier")
UNIT_KEYS = ("id", "name", "alternative_code")
EVENT_KEYS = ("id", "number")
PRODUCT_KEYS = ("id", "code", "alternative_code")
CLASSIFICATION_KEYS = ("id", "name", "alternative_code")
IDENTITY_OPTIONS = {
    "accounts_receivable_identifier": AR_KEYS,
    "rewards_participant_identifier": RP_KEYS,
}
MAX_RESULTS = 500
DEFAULT_RESULTS = 50


# Validated requests, handed to the engine.


@dataclass
class LineInput:
    product: tuple | None  # (key, value) of product_identifier, or None
    quantity: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    total_amount: Decimal


@dataclass
class PurchaseInput:
    identity: tuple  # (parameter name, (key, value))
    unit: tuple
    performed_on: datetime | None
    reference_number: str | None
    total_amount: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    lines: list = field(default_factory=list)
    classification: tuple | None = None
    external_system: str | None = None
    external_system_reference_number: str | None = None
    description: str | None = None


@dataclass
class SpendInput:
    identity: tuple
    unit: tuple
    performed_on: datetime
    purchase: tuple
    spend_amount: Decimal | None
    external_system: str | None = None
    external_system_reference_number: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Route:
    verb: str
    handler: Callable
    needs_token: bool = True
    # Only web_api_key/token may come without a body: everything else needs an object.
    body_optional: bool = False


def handle(engine, verb, endpoint, *, body=b"", query="", headers=None):
    """Run one API call; returns the success `data` or raises ApiError."""
    headers = headers or {}
    route = ROUTES.get(endpoint)
    if route is None:
        raise ApiError(
            errors.UNKNOWN_METHOD,
            "Unknown API method.",
            f"There is no method {endpoint!r} under /crmapi/rest/v2/.",
        )
    if route.verb != verb:
        raise ApiError(
            errors.METHOD_NOT_ALLOWED,
            f"Use {route.verb} for this method.",
            f"{endpoint} does not accept {verb}.",
        )
    if verb == "GET":
        data = decode_query(query)
    else:
        data = decode_json_body(body, optional=route.body_optional)
    params = Params(data, strict=engine.catalogue.settings["strict"])
    if route.needs_token:
        token = params.raw("token")
        engine.check_token(token if isinstance(token, str) else None)
    return route.handler(engine, params, headers)


# ---- authentication --------------------------------------------------------------


def _web_api_key_token(engine, params, headers):
    key = _basic_auth_user(headers.get("Authorization"))
    return engine.login_with_key(key, params.string("unit"))


def _basic_auth_user(header):
    """The key from `Basic base64("KEY:")`; `base64("KEY")` is accepted too."""
    refused = ApiError(
        errors.INVALID_CREDENTIALS,
        "The Web API key is missing or not valid.",
        "Send the key in HTTP Basic auth as user name with an empty password.",
    )
    if not header or not header.startswith("Basic "):
        raise refused
    try:
        decoded = base64.b64decode(header[len("Basic ") :].strip(), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise refused from None
    key, _, password = text.partition(":")
    if not key or password:
        raise refused
    return key


def _password_token(engine, params, _headers):
    username = params.string("username", required=True)
    password = params.string("password", required=True)
    organisation = params.string("organisation", required=True)
    return engine.login_with_password(username, password, organisation, params.string("unit"))


def _release_token(engine, params, _headers):
    engine.release_token(params.string("token", required=True))
    return None


# ---- rewards participants --------------------------------------------------------


def _show_participant(engine, params, _headers):
    identifier = params.identifier("rewards_participant_identifier", RP_KEYS, required=True)
    return engine.show_participant(identifier, params.fields_set())


# ---- purchases -------------------------------------------------------------------


def _purchase_input(params, *, for_create):
    identity = params.one_identifier_of(IDENTITY_OPTIONS)
    unit = params.identifier("performed_by_unit_identifier", UNIT_KEYS, required=True)
    performed_on = params.datetime("performed_on", required=for_create)
    reference_number = params.string("reference_number", required=for_create)
    classification = params.identifier("classification_identifier", CLASSIFICATION_KEYS)
    total = params.money("total_amount")
    net = params.money("net_amount")
    vat = params.money("vat_amount")
    lines = (
        _line_inputs(params.raw("products_set"), strict=params.strict)
        if params.given("products_set")
        else []
    )
    if total is None and not lines:
        raise missing("total_amount", "products_set")
    if lines:
        line_total = sum((line.total_amount for line in lines), ZERO)
        if total is None:
            total = line_total
        elif abs(total - line_total) > TOLERANCE:
            raise invalid(
                "total_amount",
                f"total_amount {total} differs from the sum of products_set "
                f"total_amount values {line_total}.",
            )
        if net is None and vat is None:
            net = sum((line.net_amount for line in lines), ZERO)
            vat = sum((line.vat_amount for line in lines), ZERO)
    net, vat = _split_total(total, net, vat)
    return PurchaseInput(
        identity=identity,
        unit=unit,
        performed_on=performed_on,
        reference_number=reference_number,
        total_amount=total,
        net_amount=net,
        vat_amount=vat,
        lines=lines,
        classification=classification,
        external_system=params.string("external_system"),
        external_system_reference_number=params.string("external_system_reference_number"),
        description=params.string("description"),
    )


def _split_total(total, net, vat):
    """Net and VAT of the purchase: a missing one is what the total leaves."""
    if net is None and vat is None:
        return total, ZERO
    if net is None:
        net = total - vat
    elif vat is None:
        vat = total - net
    if net < 0 or vat < 0 or abs(net + vat - total) > TOLERANCE:
        raise invalid(
            "total_amount",
            f"net_amount {net} + vat_amount {vat} must equal total_amount {total}.",
        )
    return net, vat


def _line_inputs(value, *, strict=False):
    if not isinstance(value, list) or not value:
        raise invalid("products_set", "'products_set' must be a non-empty list.")
    lines = []
    for index, item in enumerate(value):
        name = f"products_set[{index}]"
        if not isinstance(item, dict):
            raise invalid(name, f"'{name}' must be an object.")
        product = item.get("product_identifier")
        if product is not None:
            product = parse_identifier(product, f"{name}.product_identifier", PRODUCT_KEYS)
        quantity = item.get("quantity")
        quantity = 1 if quantity is None else quantity
        amounts = {}
        for field_name in ("net_amount", "vat_amount", "total_amount"):
            if item.get(field_name) is None:
                raise missing(f"{name}.{field_name}")
            amounts[field_name] = parse_money(
                item[field_name], f"{name}.{field_name}", strict=strict
            )
        net, vat, total = amounts.values()
        if abs(net + vat - total) > TOLERANCE:
            raise invalid(
                name,
                f"{name}: net_amount {net} + vat_amount {vat} != total_amount {total}.",
            )
        lines.append(
            LineInput(
                product=product,
                quantity=parse_number(quantity, f"{name}.quantity", positive=True),
                net_amount=net,
                vat_amount=vat,
                total_amount=total,
            )
        )
    return lines


def _preview(engine, params, _headers):
    request = _purchase_input(params, for_create=False)
    return engine.preview(request, params.fields_set())


def _create_purchase(engine, params, _headers):
    request = _purchase_input(params, for_create=True)
    return engine.create_purchase(request, params.fields_set())


def _event_identifier(params):
    return params.identifier("customer_event_identifier", EVENT_KEYS, required=True)


def _cancel_purchase(engine, params, _headers):
    return engine.cancel_purchase(_event_identifier(params), params.fields_set())


def _show_purchase(engine, params, _headers):
    return engine.show_purchase(_event_identifier(params), params.fields_set())


def _list_purchases(engine, params, _headers):
    identity = params.one_identifier_of(IDENTITY_OPTIONS)
    after = params.datetime("submitted_after_date", allow_date_only=True)
    before = params.datetime("submitted_before_date", allow_date_only=True)
    limit = params.integer(
        "number_of_results", default=DEFAULT_RESULTS, minimum=1, maximum=MAX_RESULTS
    )
    offset = params.integer("offset", default=0, minimum=0, maximum=10**9)
    return engine.list_purchases(identity, after, before, limit, offset, params.fields_set())


# ---- spend requests --------------------------------------------------------------


def _create_spend_request(engine, params, _headers):
    request = SpendInput(
        identity=params.one_identifier_of(IDENTITY_OPTIONS),
        unit=params.identifier("performed_by_unit_identifier", UNIT_KEYS, required=True),
        performed_on=params.datetime("performed_on", required=True),
        purchase=params.identifier(
            "purchase_customer_request_identifier", EVENT_KEYS, required=True
        ),
        spend_amount=params.money("spend_amount", positive=True),
        external_system=params.string("external_system"),
        external_system_reference_number=params.string("external_system_reference_number"),
        description=params.string("description"),
    )
    return engine.create_spend_request(request, params.fields_set())


def _cancel_spend_request(engine, params, _headers):
    return engine.cancel_spend_request(_event_identifier(params), params.fields_set())


def _show_spend_request(engine, params, _headers):
    return engine.show_spend_request(_event_identifier(params), params.fields_set())


ROUTES = {
    "authentication/web_api_key/token": Route(
        "POST", _web_api_key_token, needs_token=False, body_optional=True
    ),
    "authentication/token": Route("POST", _password_token, needs_token=False),
    "authentication/token/release": Route("POST", _release_token, needs_token=False),
    "rewards_participants/show": Route("POST", _show_participant),
    "customer_events/purchases/preview": Route("POST", _preview),
    "customer_events/purchases/create": Route("POST", _create_purchase),
    "customer_events/purchases/cancel": Route("POST", _cancel_purchase),
    "customer_events/purchases/show": Route("GET", _show_purchase),
    "customer_events/purchases/list": Route("POST", _list_purchases),
    "customer_events/spend_requests/create": Route("POST", _create_spend_request),
    "customer_events/spend_requests/cancel": Route("POST", _cancel_spend_request),
    "customer_events/spend_requests/show": Route("GET", _show_spend_request),
}
