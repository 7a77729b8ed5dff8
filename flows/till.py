"""The till's requests (guide steps 1-5): identify the customer, preview the rewards,
spend them, cancel the redemption. The till calls them on its ``pos.config``
(``crmcom_identify_customer`` …); each answers ``{"ok": False, "reason", "message"}``
rather than raising, so that the sale always goes on, and checks everything the till
sends (invariant "the server decides").
"""

import datetime
import hashlib
import json
import math
from decimal import Decimal

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tools import SQL, format_amount

from ..crmcom import (
    BACK_END_REDUCTION,
    FRONT_END_REDUCTION,
    CrmcomError,
    CrmcomNotFoundError,
    Purchase,
    read_participant,
    read_preview,
)
from ..models import trust
from . import cancellation
from . import purchase as purchases
from .errors import CrmcomOrderError, TillInputError
from .messages import describe_error, refusal, till_failure

# No till spends more in one go; larger numbers are typing or crafted input.
MAX_SPEND_AMOUNT = Decimal(1_000_000_000)
PREVIEW_VALIDITY = datetime.timedelta(minutes=15)
MAX_ORDER_LINES = 1000
MAX_ID = 2**31 - 1
# What a preview reads of its customer, fetched with its existence in one query.
PARTNER_FIELDS = [
    "company_id",
    "partner_share",  # read by the record rule
    "crmcom_company_id",
    "crmcom_account_id",
    "crmcom_account_number",
    "crmcom_wallet_balance",
]
# What building a purchase reads of the company: these columns, not the whole row.
COMPANY_READ = [
    "parent_path",  # the record rules of customers
    "active",  # idem
    "partner_id",
    "currency_id",
    "crmcom_redemption_product_id",
    "crmcom_fallback_product_code",
    "crmcom_external_system",
]
# What a till call reads of its till, fetched with its existence in one query.
TILL_FIELDS = [
    "company_id",
    "crmcom_enabled",
    "crmcom_unit_key",
    "crmcom_unit_value",
    "crmcom_external_system",
    "journal_id",
]


def identify(config, kind, value):
    """Find the participant in CRM.COM by access token, number or id, link it to an
    Odoo customer and return what the cashier sees."""
    config, refused = _till(config)
    if refused:
        return refused
    env = config.env
    try:
        identifier = env["res.partner"]._crmcom_participant_identifier(kind, value)
        client = config.company_id._crmcom_client()
        participant = read_participant(client.show_rewards_participant(identifier))
    except TillInputError as error:
        return refusal("invalid", error)
    except CrmcomNotFoundError:
        return refusal("not_found", env._("No CRM.COM customer has this identifier."))
    except CrmcomError as error:
        return till_failure(env, error)
    if not participant.is_effective:
        return refusal(
            "terminated",
            env._(
                "The CRM.COM membership of %(name)s is not active: no rewards on this sale.",
                name=participant.name,
            ),
        )
    try:
        partner = env["res.partner"]._crmcom_link_participant(
            participant,
            config.company_id,
            token=value.strip() if kind == "access_token" else None,
        )
    except CrmcomOrderError as error:
        return refusal("invalid_answer", error)
    return {
        "ok": True,
        "partner_id": partner.id,
        "name": participant.name,
        "participant_number": participant.number,
        "wallet_balance": float(participant.wallet_balance or 0),
        "currency": participant.currency,
        "spending_blocked": participant.spending_blocked,
    }


def preview(config, order_data):
    """The rewards panel (guide, advanced flow step 2): what CRM.COM would award and
    let the customer spend on the order as it stands.

    ``order_data``: ``{"uuid", "partner_id", "lines": [{"product_id", "qty",
    "price_subtotal", "price_subtotal_incl"}]}`` in the till's currency. The answer
    is kept on the server for the spend request's checks."""
    config, refused = _till(config)
    if refused:
        return refused
    env = config.env
    company = config.company_id
    company.fetch(COMPANY_READ)
    try:
        uuid, partner, lines = _draft_order(config, order_data)
        _fetch_purchase_reads(config, env.user, [line[0] for line in lines])
        now = fields.Datetime.now()
        purchase = Purchase(
            customer=partner._crmcom_customer_identifier(company),
            unit=config._crmcom_unit_identifier(),
            performed_on=purchases.local_time(now, env.user, company),
            reference_number=uuid,
            lines=purchases.purchase_lines(company, lines, currency=config.currency_id, date=now),
            external_system=config._crmcom_external_system(),
        )
    except (TillInputError, CrmcomOrderError) as error:
        return refusal("invalid", error)
    except ValueError as error:  # a payload the client refuses to build
        return refusal("invalid", error)
    try:
        client = company._crmcom_client(partner=partner)
        answer = read_preview(client.preview_purchase(purchase))
    except CrmcomError as error:
        return till_failure(env, error)
    env["crmcom.till.preview"].sudo()._store(
        {
            "order_uuid": uuid,
            "config_id": config.id,
            "partner_id": partner.id,
            "purchase_digest": purchase_digest(purchase),
            "total_amount": float(purchase.total_amount),
            "reduction_method": answer.reduction_method,
            "award_amount": float(answer.award_amount),
            "instant_spend_amount": float(answer.instant_spend_amount),
            "automatic_spend_amount": float(answer.automatic_spend_amount),
            "additional_spend_amount": float(answer.additional_spend_amount),
            "minimum_spend_amount": float(answer.minimum_spend_amount or 0),
            "maximum_spend_amount": float(
                answer.maximum_spend_amount
                if answer.maximum_spend_amount is not None
                else answer.additional_spend_amount
            ),
            "wallet_balance": float(
                answer.wallet_balance
                if answer.wallet_balance is not None
                else partner.crmcom_wallet_balance
            ),
            "allow_spending": answer.allow_spending,
        }
    )
    return {
        "ok": True,
        "reduction_method": answer.reduction_method,
        "front_end": answer.front_end,
        "award_amount": float(answer.award_amount),
        "instant_spend_amount": float(answer.instant_spend_amount),
        "automatic_spend_amount": float(answer.automatic_spend_amount),
        "automatic_redemption": float(answer.automatic_redemption),
        "additional_spend_amount": float(answer.additional_spend_amount),
        "minimum_spend_amount": float(answer.minimum_spend_amount or 0),
        "maximum_spend_amount": float(answer.maximum_spend_amount or 0),
        "wallet_balance": float(answer.wallet_balance or 0),
        # Front-end: a discount at the till; back-end: CRM.COM refunds the spend
        # through its payment gateway (guide, advanced flow step 4).
        "allow_spending": answer.allow_spending,
    }


def spend(config, order_uuid, amount):
    """ "Spend rewards" (guide steps 3-4): submit the order's purchase, then a spend
    request for ``amount`` (0 = only what CRM.COM spends by itself), and return the
    redemption the till deducts: what CRM.COM really spent plus its instant and
    automatic spend, never the amount asked.

    The order must be saved as a draft first (the till syncs it). Checks are made
    here against the server's own preview: positive amount, within the minimum and
    maximum per spend, not above what is available nor above what is due. Asking
    twice (double click, second tab, reload) answers the first result again: never
    two purchases nor two spends for one order."""
    config, refused = _till(config)
    if refused:
        return refused
    env = config.env
    try:
        requested = _spend_amount(env, amount)
    except TillInputError as error:
        return refusal("invalid", error)
    order, refused = _till_order(config, order_uuid, env._("Save the order first."))
    if refused:
        return refused
    order._crmcom_recover()  # locked by _till_order
    if order.crmcom_additional_spend_amount or (order.crmcom_purchase_id and not requested):
        return _spend_answer(order, requested)
    if order.state != "draft":
        return refusal(
            "invalid", env._("This order is already paid: rewards can no longer be spent on it.")
        )
    try:
        config.company_id.fetch(COMPANY_READ)
        order.partner_id.fetch(PARTNER_FIELDS)
        _fetch_purchase_reads(config, order.user_id, order.lines.product_id)
        purchase = order._crmcom_purchase()
        shown = _spend_preview(config, order, purchase)
        _check_spend(order, shown, requested)
    except CrmcomOrderError as error:
        return refusal("refused", error)
    except CrmcomError as error:
        return till_failure(env, error)
    # The receipt's wallet before is CRM.COM's wallet before the purchase: a later
    # preview already includes the purchase's award and spend.
    if not order.crmcom_attempts:
        order.crmcom_wallet_before = shown.wallet_balance
    if not order.crmcom_purchase_id:
        failure = _spend_purchase(order, purchase)
        if failure:
            return failure
    order.crmcom_reduction_method = shown.reduction_method
    if requested:
        try:
            purchases.send_spend(order, requested)
        except CrmcomError as error:
            order._crmcom_write_redemption()
            answer = till_failure(env, error)
            answer["message"] = env._(
                "The purchase is recorded in CRM.COM, but the spend failed: %(problem)s",
                problem=answer["message"],
            )
            answer.update(_spend_answer(order, requested), ok=False)
            return answer
    order._crmcom_write_redemption()
    return _spend_answer(order, requested)


def cancel_redemption(config, order_uuid):
    """ "Cancel redemption": cancel the draft order's purchase in CRM.COM now (its
    spend and awards with it), so that the cashier can change the order and redeem
    again. The next purchase of the order gets a new reference number (``<order
    reference>/2``, then ``/3``…)."""
    config, refused = _till(config)
    if refused:
        return refused
    env = config.env
    missing = env._("No open order to change.")
    order, refused = _till_order(config, order_uuid, missing)
    if refused:
        return refused
    if order.state != "draft":
        return refusal("invalid", missing)
    order._crmcom_recover()  # locked by _till_order
    if order.crmcom_state in ("sent", "pending", "failed"):
        order.crmcom_state = "cancel_pending"
    try:
        if order.crmcom_state == "cancel_pending":
            cancellation.cancel_purchase(order, raise_errors=True)
    except (CrmcomError, CrmcomOrderError) as error:
        if isinstance(error, CrmcomError) and error.maybe_applied:
            # Maybe cancelled: the order must not be paid with this redemption.
            message = env._(
                "CRM.COM did not confirm the cancellation of the redemption. Delete"
                " this order and ring it up again."
            )
        else:
            order.crmcom_state = "sent"  # nothing changed in CRM.COM
            message = env._(
                "CRM.COM could not cancel the redemption now (%(problem)s). Keep the"
                " order as it is, or delete it and ring it up again.",
                problem=order.crmcom_last_error,
            )
        return refusal("unavailable", message)
    # The spend is given back to the wallet: the order may deduct nothing now.
    order.write(
        cancellation.next_purchase_values(order, crmcom_state="none", crmcom_redemption_allowed=0.0)
    )
    return {"ok": True}


def purchase_digest(purchase):
    """What a preview and a spend must agree on: the customer, the unit and the
    products_set of ``purchase`` (not its date nor its reference)."""
    basket = [purchase.customer, purchase.unit, [line.to_payload() for line in purchase.lines]]
    return hashlib.sha256(json.dumps(basket, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------ who is asking


def _till(config):
    """The till of a call, checked: a Point of Sale user of one of its companies, one
    till, and rewards on. Returns (the till in the flow environment, None), or (the
    till, the answer that refuses the call)."""
    config = trust.in_flow(config)
    env = config.env
    user = env.user
    if not (env.su or user.has_group("point_of_sale.group_pos_user")):
        return config, refusal(
            "refused", env._("Only Point of Sale users can use CRM.COM Rewards at a till.")
        )
    unknown = refusal("refused", env._("Unknown point of sale."))
    if len(config) != 1 or not _is_id(config.id):
        return config, unknown
    # Whether it exists (archived or not), and what the call reads of it: one query.
    found = (
        config.sudo()
        .with_context(active_test=False)
        .search_fetch([("id", "=", config.id)], TILL_FIELDS)
    )
    if not found:
        return config, unknown
    try:
        config.check_access("read")
    except AccessError:
        return config, unknown
    # The user's companies as Odoo caches them (env.companies reads the same).
    if not (env.su or config.company_id.id in user._get_company_ids()):
        return config, unknown
    if not config._crmcom_active():
        return config, refusal("refused", env._("CRM.COM Rewards is off for this point of sale."))
    return config, None


def _till_order(config, order_uuid, missing):
    """The order ``order_uuid`` of ``config``, which the user may change, in the flow
    environment, its row locked (README › Design: one till request at a time per
    order): (order, None), or (None, the refusal, ``missing`` if none)."""
    orders = config.env["pos.order"]
    order = orders.browse()
    if isinstance(order_uuid, str) and 0 < len(order_uuid) <= 64:
        # Found and locked in one statement (uuids are unique), before anything of it
        # is read; whether the user may change it is checked next, on the record.
        orders.flush_model(["uuid", "config_id"])
        env = config.env
        env.cr.execute(
            SQL(
                "SELECT id FROM pos_order WHERE uuid = %s AND config_id = %s FOR UPDATE",
                order_uuid,
                config.id,
            )
        )
        order = orders.browse([row[0] for row in env.cr.fetchall()])
        order.invalidate_recordset()  # what this transaction read of it before the lock
    try:
        order.check_access("write")
    except AccessError:
        order = orders.browse()
    if not order:
        return None, refusal("invalid", missing)
    # The CRM.COM fields are not tracked: spare each write the chatter's work.
    return order.with_context(tracking_disable=True), None


def _draft_order(config, order_data):
    """(uuid, partner, lines) of an order the till describes; TillInputError with
    plain words for anything malformed."""
    env = config.env
    if not isinstance(order_data, dict):
        raise TillInputError(env._("The order sent by the till is unreadable."))
    uuid = order_data.get("uuid")
    if not isinstance(uuid, str) or not 0 < len(uuid) <= 64:
        raise TillInputError(env._("The order sent by the till has no reference."))
    partner_id = order_data.get("partner_id")
    partner = env["res.partner"]
    if _is_id(partner_id):
        # Whether it exists (archived or not), and what the call reads of it: one query.
        found = (
            partner.sudo()
            .with_context(active_test=False)
            .search_fetch([("id", "=", partner_id)], PARTNER_FIELDS)
        )
        partner = partner.browse(found.ids)
    if not partner or not (partner.crmcom_account_number or partner.crmcom_account_id):
        raise TillInputError(env._("Identify the CRM.COM customer first."))
    if not partner._crmcom_linked_to(config.company_id):
        raise TillInputError(
            env._("This customer is a member of another company's CRM.COM: identify them again.")
        )
    try:
        partner.check_access("read")
    except AccessError:
        raise TillInputError(env._("Identify the CRM.COM customer first.")) from None
    raw_lines = order_data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines or len(raw_lines) > MAX_ORDER_LINES:
        raise TillInputError(env._("The order has no lines."))
    if not all(isinstance(raw, dict) for raw in raw_lines):
        raise TillInputError(env._("The order sent by the till is unreadable."))
    product_ids = [raw.get("product_id") for raw in raw_lines]
    products = env["product.product"].browse(
        list({product_id for product_id in product_ids if _is_id(product_id)})
    )
    # One query for all the lines; the records share their prefetch (one fetch).
    known = {product.id: product for product in products.exists()}
    lines = []
    for raw, product_id in zip(raw_lines, product_ids, strict=True):
        if not _is_id(product_id) or product_id not in known:
            raise TillInputError(env._("The order holds an unknown product."))
        numbers = [raw.get(key) for key in ("qty", "price_subtotal", "price_subtotal_incl")]
        if not all(_is_finite_number(number) for number in numbers):
            raise TillInputError(env._("The order holds a line without valid amounts."))
        lines.append((known[product_id], *numbers))
    return uuid, partner, lines


def _fetch_purchase_reads(config, user, products):
    """Read the columns a purchase is built from (the zone, the currency, the
    product codes): reading one field of a record makes the ORM read all its
    columns, which is most of a preview's time. The products as the user (their
    record rules apply); the rest without access checks."""
    company = config.company_id
    # The cashier's zone and the till's currencies: records any till user may read,
    # whose values leave only in the purchase.
    user = user.sudo()
    user.fetch(["partner_id"])
    (user.partner_id | company.partner_id).fetch(["tz"])
    journal = config.journal_id.sudo()
    journal.fetch(["currency_id", "company_id"])
    (journal.currency_id | company.currency_id).sudo().fetch(["rounding", "decimal_places"])
    products = config.env["product.product"].union(*products)
    products.fetch(["product_tmpl_id", "default_code"])
    products.product_tmpl_id.fetch(["crmcom_product_code"])


def _spend_amount(env, value):
    """A spend amount from the till: a number of at most cents, 0 or more."""
    if not _is_finite_number(value):
        raise TillInputError(env._("Enter the amount to spend as a number."))
    amount = Decimal(str(value))
    if amount < 0:
        raise TillInputError(env._("The amount to spend cannot be negative."))
    if amount > MAX_SPEND_AMOUNT:
        raise TillInputError(env._("The amount to spend is too large."))
    if amount != amount.quantize(Decimal("0.01")):
        raise TillInputError(env._("The amount to spend has more than two decimals."))
    return amount


def _is_id(value):
    # Record ids are PostgreSQL integers: a larger number names no record.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _is_finite_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------ spending


def _spend_purchase(order, purchase):
    """The purchase of a spend at the till: None once it is in CRM.COM, else the
    answer for the till."""
    env = order.env
    try:
        _result, outdated = purchases.send_purchase(order, purchase=purchase)
        if outdated:
            _replace_outdated_now(order)
    except CrmcomOrderError as error:
        return refusal("refused", error)
    except CrmcomError as error:
        if order.crmcom_state == "cancel_pending":
            return refusal(
                "unavailable",
                env._(
                    "CRM.COM holds an earlier version of this order and could not cancel"
                    " it now (%(problem)s). Delete this order and ring it up again.",
                    problem=describe_error(env, error),
                ),
            )
        if error.maybe_applied:
            # Known to the order sync: its purchase is looked up before resending.
            order.write(
                {
                    "crmcom_state": "pending",
                    "crmcom_last_error": describe_error(env, error),
                    "crmcom_next_attempt_at": fields.Datetime.now(),
                }
            )
        return till_failure(env, error)
    return None


def _replace_outdated_now(order):
    """The draft's purchase found in CRM.COM is an earlier version of the order (sent
    by a request whose answer was lost, before the cashier changed the order): cancel
    it now and send the order as it is, under the next reference number. The wallet
    before stays the one before the first version."""
    wallet_before = order.crmcom_wallet_before
    order.crmcom_state = "cancel_pending"
    cancellation.cancel_purchase(order, raise_errors=True)
    order.write(
        cancellation.next_purchase_values(
            order, crmcom_state="none", crmcom_wallet_before=wallet_before
        )
    )
    purchases.send_purchase(order)


def _spend_preview(config, order, purchase):
    """The server's preview of ``order`` (whose ``purchase`` is given) as it stands:
    the one the till showed, if it is fresh and for this customer and total, else a
    new one."""
    previews = order.env["crmcom.till.preview"].sudo()
    digest = purchase_digest(purchase)
    found = previews._latest(order.uuid, config, digest, PREVIEW_VALIDITY)
    if found:
        return found
    answer = preview(
        config,
        {
            "uuid": order.uuid,
            "partner_id": order.partner_id.id,
            "lines": [
                {
                    "product_id": line.product_id.id,
                    "qty": line.qty,
                    "price_subtotal": line.price_subtotal,
                    "price_subtotal_incl": line.price_subtotal_incl,
                }
                for line in order.lines
            ],
        },
    )
    if not answer["ok"]:
        raise CrmcomOrderError(answer["message"])
    # The till's lines and the saved ones may give different purchases (a product
    # code, a rounding): then check against the latest preview.
    return previews._latest(order.uuid, config, digest, PREVIEW_VALIDITY) or previews._latest(
        order.uuid, config, None, PREVIEW_VALIDITY
    )


def _check_spend(order, shown, requested):
    """Invariant "the server decides": refuse what CRM.COM's limits forbid."""
    env = order.env
    currency = order.company_id.currency_id
    if shown.reduction_method not in (FRONT_END_REDUCTION, BACK_END_REDUCTION):
        raise CrmcomOrderError(
            env._(
                "CRM.COM named no reduction method this till knows (%(method)s): no"
                " rewards can be spent here.",
                method=shown.reduction_method or "-",
            )
        )
    if not requested:
        if shown.reduction_method == BACK_END_REDUCTION:
            raise CrmcomOrderError(
                env._("This shop redeems rewards in CRM.COM itself (back-end reduction).")
            )
        return
    if not shown.allow_spending or currency.is_zero(shown.additional_spend_amount):
        raise CrmcomOrderError(env._("CRM.COM allows no spending on this order."))
    due = shown.total_amount - shown.instant_spend_amount - shown.automatic_spend_amount
    limits = (
        (shown.minimum_spend_amount, -1, env._("Spend at least %(amount)s.")),
        (shown.maximum_spend_amount, 1, env._("Spend at most %(amount)s at a time.")),
        (shown.additional_spend_amount, 1, env._("At most %(amount)s can be spent.")),
        (due, 1, env._("Spend at most the amount due, %(amount)s.")),
    )
    for bound, side, message in limits:
        if currency.compare_amounts(float(requested), bound) == side:
            raise CrmcomOrderError(message % {"amount": format_amount(env, bound, currency)})


def _spend_answer(order, requested):
    env = order.env
    spent = order.crmcom_additional_spend_amount
    currency = order.currency_id
    # A CRM.COM set to spend the whole purchase spends more than asked: the till
    # deducts what it spent, and says so.
    exceeded = bool(requested) and currency.compare_amounts(spent, float(requested)) > 0
    back_end = order.crmcom_reduction_method == BACK_END_REDUCTION
    refund = order._crmcom_spent() if back_end else 0.0
    notice = False
    if back_end and not currency.is_zero(refund):
        notice = env._(
            "CRM.COM spent %(amount)s of the customer's rewards and refunds it through its"
            " payment gateway: no discount at the till.",
            amount=format_amount(env, refund, currency),
        )
    elif exceeded:
        notice = env._(
            "CRM.COM spent %(spent)s, more than the %(asked)s asked (it spends the whole"
            " purchase at this shop): %(spent)s is deducted from the order.",
            spent=format_amount(env, spent, currency),
            asked=format_amount(env, float(requested), currency),
        )
    return {
        "ok": True,
        "purchase_number": order.crmcom_purchase_number,
        "requested_amount": float(requested),
        "spent_amount": spent,
        "partial": bool(requested) and currency.compare_amounts(spent, float(requested)) < 0,
        "exceeded": exceeded,
        "back_end": back_end,
        "refund_amount": refund,
        "notice": notice,
        "instant_spend_amount": order.crmcom_instant_spend_amount,
        "automatic_spend_amount": order.crmcom_automatic_spend_amount,
        "redemption_amount": order.crmcom_redemption_amount,
        "award_amount": order.crmcom_awarded_amount,
        "wallet_before": order.crmcom_wallet_before,
        "wallet_after": order.crmcom_wallet_after,
        "redemption_product_id": order.company_id._crmcom_redemption_product().id,
    }
