"""A sale as a CRM.COM purchase, and one exactly-once attempt at creating it (or its
spend request).

The purchase is built by the order's value hooks (``pos.order._crmcom_prepare_purchase``
and the hooks it calls); this file holds what the hooks share (the ``products_set``
rules) and the attempt: counted and journalled before CRM.COM is called, looked up
instead of resent when an earlier answer may have been lost (README › Design).
"""

import dataclasses
import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytz

from odoo import fields

from ..crmcom import (
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomConfigurationError,
    CrmcomError,
    PurchaseLine,
    read_purchase,
    read_spend_request,
)
from .errors import CrmcomOrderError
from .messages import describe_error

# A lost answer is looked up among the purchases submitted since a little before the
# first attempt (clocks of Odoo and CRM.COM may differ).
LOOKUP_MARGIN = datetime.timedelta(hours=1)
# An order being sent is not due again before this (its worker holds it meanwhile;
# after a crash, the next attempt looks it up first).
IN_FLIGHT_LEASE = datetime.timedelta(minutes=5)
RETRY_DELAY_BASE = datetime.timedelta(minutes=1)
RETRY_DELAY_CAP = datetime.timedelta(hours=1)


# ------------------------------------------------------------------ mapping


def local_time(moment, user, company):
    """``moment`` (naive UTC) as the till's local time: CRM.COM dates carry no zone.
    The zone is the cashier's, else the company's, else UTC."""
    tz = user.tz or company.partner_id.tz or "UTC"
    return pytz.utc.localize(moment).astimezone(pytz.timezone(tz)).replace(tzinfo=None)


def purchase_lines(company, lines, *, currency, date):
    """``products_set`` for ``lines`` of (product, quantity, amount without tax, amount
    with tax) in ``currency``: amounts after line discounts, in company currency,
    rounded like Odoo; the redemption line left out; negative lines (order-wide
    discounts) spread over the other lines in proportion. Each product is named by
    its hook ``product.product._crmcom_product_identifier``."""
    env = company.env
    company_currency = company.currency_id
    redemption = company._crmcom_redemption_product()

    def company_amount(amount):
        if currency and currency != company_currency:
            amount = currency._convert(amount, company_currency, company, date)
        return decimal(company_currency.round(amount), company_currency)

    sold, deductions = [], Decimal(0)
    for product, qty, subtotal, subtotal_incl in lines:
        if product == redemption:
            continue
        net, total = company_amount(subtotal), company_amount(subtotal_incl)
        if qty <= 0 or total <= 0:
            deductions += total
            continue
        identifier = product._crmcom_product_identifier(company)
        if not identifier:
            raise CrmcomOrderError(
                env._(
                    "The product %(product)s has no CRM.COM product code (nor"
                    " internal reference) and no fallback code is set.",
                    product=product.display_name,
                )
            )
        sold.append([identifier, Decimal(str(qty)), net, total])
    gross = sum((item[3] for item in sold), Decimal(0))
    if not sold or gross + deductions <= 0:
        raise CrmcomOrderError(env._("The order has nothing to send to CRM.COM."))
    if deductions:
        spread(sold, (gross + deductions) / gross, company_currency)
    return [
        PurchaseLine(identifier, net, total - net, total, quantity=qty)
        for identifier, qty, net, total in sold
    ]


def decimal(amount, currency):
    places = Decimal(1).scaleb(-currency.decimal_places)
    return Decimal(str(amount)).quantize(places, rounding=ROUND_HALF_UP)


def spread(sold, factor, currency):
    """Scale every line by ``factor`` in place, keeping the exact scaled grand total
    (the rounding rest goes to the largest line)."""
    places = Decimal(1).scaleb(-currency.decimal_places)
    target_total = sum(item[3] for item in sold) * factor
    target_net = sum(item[2] for item in sold) * factor
    target_total = target_total.quantize(places, rounding=ROUND_HALF_UP)
    target_net = target_net.quantize(places, rounding=ROUND_HALF_UP)
    for item in sold:
        item[2] = (item[2] * factor).quantize(places, rounding=ROUND_HALF_UP)
        item[3] = (item[3] * factor).quantize(places, rounding=ROUND_HALF_UP)
    largest = max(sold, key=lambda item: item[3])
    largest[3] += target_total - sum(item[3] for item in sold)
    largest[2] += target_net - sum(item[2] for item in sold)


# ------------------------------------------------------------------ attempt


@dataclasses.dataclass(frozen=True)
class PurchaseAttempt:
    """One attempt at creating an order's purchase, ready to go over HTTP."""

    purchase: object  # crmcom.Purchase
    look_up_first: bool
    submitted_after: datetime.datetime


def begin_attempt(order, *, calls=None, purchase=None):
    """Count an attempt at sending ``order``'s purchase (the row must be locked):
    returns the client and the PurchaseAttempt for :func:`exchange_purchase`.

    Every attempt but the first looks the reference up in CRM.COM before creating
    anything: an earlier answer may have been lost, or the worker may have died
    before it stored it. The order is not due again until the lease ends, so no
    other worker picks it up while its answer is awaited. ``calls`` collects the
    call records instead of logging them at once (for calls made outside this
    thread); ``purchase``: the order's purchase, if the caller built it already."""
    reference = order.crmcom_reference or order.pos_reference
    if purchase is None or purchase.reference_number != reference:
        purchase = order._crmcom_purchase(reference=reference)
    client = order.company_id._crmcom_client(order=order, partner=order.partner_id, calls=calls)
    now = fields.Datetime.now()
    first_attempt = order.crmcom_first_attempt_at or now
    attempt = PurchaseAttempt(
        purchase=purchase,
        look_up_first=order.crmcom_attempts > 0,
        submitted_after=first_attempt - LOOKUP_MARGIN,
    )
    order.write(
        {
            "crmcom_attempts": order.crmcom_attempts + 1,
            "crmcom_reference": reference,
            "crmcom_first_attempt_at": first_attempt,
            "crmcom_next_attempt_at": now + IN_FLIGHT_LEASE,
        }
    )
    return client, attempt


def exchange_purchase(client, attempt):
    """The HTTP part of sending a purchase: look it up first where an earlier attempt
    may have reached CRM.COM, else create it. No database here (but the shared
    token store's own short transactions, when the process needs a token): worker
    threads run it. Returns (PurchaseResult, outdated): ``outdated`` when the purchase found is
    not the order as it is now (an earlier attempt sent it before the order changed:
    its total differs; or it was cancelled since). Raises CrmcomError."""
    purchase = attempt.purchase
    found = None
    if attempt.look_up_first:
        found = client.find_purchase(
            purchase.customer, purchase.reference_number, submitted_after=attempt.submitted_after
        )
    result = read_purchase(found if found is not None else client.create_purchase(purchase))
    outdated = found is not None and (
        not result.is_posted
        or (result.total_amount is not None and result.total_amount != purchase.total_amount)
    )
    return result, outdated


def send_purchase(order, *, purchase=None):
    """Create ``order``'s purchase in CRM.COM within the caller's transaction (the row
    must be locked) and store it; returns (PurchaseResult, outdated) as
    :func:`exchange_purchase` does. Raises CrmcomOrderError / CrmcomError."""
    client, attempt = begin_attempt(order, purchase=purchase)
    # This transaction commits after CRM.COM answers, if ever: the attempt is on
    # record meanwhile, so a lost transaction leads to a lookup, not a resend.
    order.env["crmcom.attempt.journal"]._write_ahead(
        order,
        "purchase",
        attempt.purchase.reference_number,
        attempt=order.crmcom_attempts,
        wallet_before=order.crmcom_wallet_before,
    )
    result, outdated = exchange_purchase(client, attempt)
    store_purchase(order, result)
    return result, outdated


def store_purchase(order, result):
    if order.state == "draft":
        # The till locks the basket CRM.COM now holds; so does the server.
        order.crmcom_basket_digest = order._crmcom_basket_fingerprint()
    order.write(
        {
            "crmcom_state": "sent",
            "crmcom_last_error": False,
            "crmcom_next_attempt_at": False,
            "crmcom_sent_at": fields.Datetime.now(),
            "crmcom_purchase_id": result.id,
            "crmcom_purchase_number": result.number,
            "crmcom_awarded_amount": float(result.award_amount),
            "crmcom_instant_spend_amount": float(result.instant_spend_amount),
            "crmcom_automatic_spend_amount": float(result.automatic_spend_amount),
        }
    )


def failure_values(order, error):
    """Values for a failed attempt: retried later with a growing delay, or failed for
    the back office (refused by CRM.COM or by our own checks, or out of attempts)."""
    attempts = order.crmcom_attempts
    if isinstance(error, CrmcomOrderError | CrmcomConfigurationError):
        retry = False
    else:
        retry = not isinstance(error, CrmcomApiError) or isinstance(
            error, CrmcomAuthenticationError
        )
    message = describe_error(order.env, error)
    if retry and attempts < order.company_id.crmcom_max_attempts:
        return {
            "crmcom_state": "pending",
            "crmcom_last_error": message,
            "crmcom_next_attempt_at": fields.Datetime.now() + retry_delay(attempts),
        }
    return {
        "crmcom_state": "failed",
        "crmcom_last_error": message,
        "crmcom_next_attempt_at": False,
    }


def retry_delay(attempts):
    """1, 2, 4 … minutes after the attempts made so far, at most an hour."""
    return min(RETRY_DELAY_CAP, RETRY_DELAY_BASE * 2 ** max(0, attempts - 1))


# -------------------------------------------------------------- spend request


def send_spend(order, requested):
    """Create the spend request of ``requested`` on the order's purchase (sent once).
    When its answer is lost, the purchase tells whether it was applied and how much
    was spent; so it does when the request that sent it was lost (see
    crmcom.attempt.journal). Raises CrmcomError."""
    client = order.company_id._crmcom_client(order=order, partner=order.partner_id)
    config = order.config_id
    journal = order.env["crmcom.attempt.journal"]
    lost = journal._lost_spends(order).get(order.uuid)
    if lost:
        found = spend_found_on_purchase(order, client)
        journal._delete(lost)
        if found:
            return
    journal._write_ahead(
        order, "spend", order.crmcom_purchase_id, attempt=journal._spends_recorded(order)
    )
    try:
        result = read_spend_request(
            client.create_spend_request(
                customer=order._crmcom_customer_identifier(),
                unit=config._crmcom_unit_identifier(),
                performed_on=local_time(fields.Datetime.now(), order.user_id, order.company_id),
                purchase={"id": order.crmcom_purchase_id},
                spend_amount=requested,
                external_system=config._crmcom_external_system(),
            )
        )
    except CrmcomError as error:
        # Applied, answer lost? The purchase says how much was spent.
        if not error.maybe_applied:
            raise
        try:
            found = spend_found_on_purchase(order, client)
        except CrmcomError:
            # Neither the spend's answer nor the purchase came back: the doubt must
            # outlive this request, so that the next spend looks first and the
            # payment replaces the purchase (crmcom.attempt.journal, lost spends).
            journal._record(
                order, "spend", order.crmcom_purchase_id, attempt=journal._spends_recorded(order)
            )
            raise error from None
        if not found:
            raise
        return
    order.write(
        {
            "crmcom_spend_id": result.id,
            "crmcom_spend_number": result.number,
            "crmcom_additional_spend_amount": float(result.spent_amount),
        }
    )


def spend_found_on_purchase(order, client):
    """Whether CRM.COM's purchase of ``order`` holds an additional spend (one whose
    answer never reached the order); if so, the order takes its amount."""
    shown = read_purchase(client.show_purchase({"id": order.crmcom_purchase_id}))
    if shown.additional_spend_amount <= 0:
        return False
    order.crmcom_additional_spend_amount = float(shown.additional_spend_amount)
    return True
