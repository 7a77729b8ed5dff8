"""Refunds (README › Refunds): CRM.COM v2 cancels whole purchases only, so a refund
cancels its original order's purchase, and a partial one sends the items kept as a
new purchase, spending again the redemption the customer keeps. A refund never
waits for CRM.COM, and never leaves the customer better off (invariant "money adds
up"): the refund screen keeps back the redemption share of the returned goods, and
the server checks it did.
"""

from odoo import fields
from odoo.tools import float_compare, format_amount

from . import cancellation


def apply(refunds):
    """Apply these refunds to the purchases of their original orders, now if no one
    holds those orders. An original the sender holds (its purchase on its way to
    CRM.COM) is not waited for: the refund is marked and the sender applies it once
    it let go. Returns the refunds applied."""
    originals = refunds.lines.refunded_orderline_id.order_id.filtered(
        lambda order: order.crmcom_state != "none"
    )
    held = originals._crmcom_lock_unless_busy()
    _refunded(held)
    waiting = refunds.filtered(
        lambda refund: refund.lines.refunded_orderline_id.order_id & (originals - held)
    )
    if waiting:
        waiting.write(
            {"crmcom_state": "refund_pending", "crmcom_next_attempt_at": fields.Datetime.now()}
        )
        refunds._crmcom_wake_sender()
    applied = refunds - waiting
    applied.filtered(lambda refund: refund.crmcom_state == "refund_pending").write(
        {"crmcom_state": "none", "crmcom_next_attempt_at": False}
    )
    return applied


def _refunded(orders):
    """Orders some of whose items were refunded (their rows locked). A full refund
    cancels the purchase in CRM.COM (its awards and spends are reversed there); a
    partial one cancels it and sends the items kept as a new purchase."""
    orders._crmcom_lock_and_recover()
    for order in orders.filtered(lambda order: order.crmcom_state != "none"):
        # Decide under the row lock, and always write the order: a sender holding
        # an older snapshot (the order without this refund) then fails on the row
        # instead of sending items that were just returned.
        order.crmcom_warning = order._crmcom_joined_warning()
        kept = [
            line
            for line in order._crmcom_sold_lines()
            if float_compare(
                line.refunded_qty, line.qty, precision_rounding=line.product_uom_id.rounding
            )
            < 0
        ]
        if not kept:
            order.crmcom_replace_after_cancel = False
            cancellation.queue_cancel(order)
        elif order.crmcom_state == "sent" or (
            order.crmcom_state in ("pending", "failed") and order.crmcom_attempts
        ):
            order.crmcom_replace_after_cancel = True
            cancellation.queue_cancel(order)


def check_redemption_share(refunds):
    """Invariant "server decides": each refund of an order paid with a CRM.COM
    redemption must keep back, on a line refunding the redemption line, the
    redemption share of the goods it returns (what the till adds by itself).
    Anything else is written on the refund and its order for the back office; the
    money is still followed as the till did it (the rewards kept back go back to the
    wallet, the rest stays spent)."""
    env = refunds.env
    for refund in refunds:
        original = refund.lines.refunded_orderline_id.order_id[:1]
        redemption_lines = original._crmcom_redemption_lines()
        if not redemption_lines:
            continue
        currency = original.currency_id
        sold = original._crmcom_sold_lines()
        returned_now = {
            line: -sum(
                refund.lines.filtered(
                    lambda back, line=line: back.refunded_orderline_id == line
                ).mapped("qty")
            )
            for line in sold
        }
        after = {line: line.refunded_qty for line in sold}
        before = {line: after[line] - returned_now[line] for line in sold}
        share = currency.round(
            redemption_share(original, after) - redemption_share(original, before)
        )
        kept = currency.round(
            sum(
                refund.lines.filtered(
                    lambda line, redemption_lines=redemption_lines: line.refunded_orderline_id
                    in redemption_lines
                ).mapped("price_subtotal_incl")
            )
        )

        def money(amount, currency=currency):
            return format_amount(env, amount, currency)

        warning = False
        if currency.compare_amounts(kept, share) < 0:
            warning = env._(
                "Refund %(refund)s paid back %(amount)s of CRM.COM rewards in cash: the"
                " redemption share of the returned goods, %(share)s, goes back to the"
                " wallet, and the refund kept back %(kept)s.",
                refund=refund.name,
                amount=money(share - kept),
                share=money(share),
                kept=money(kept),
            )
        elif currency.compare_amounts(kept, share) > 0:
            warning = env._(
                "Refund %(refund)s kept back %(amount)s more of the CRM.COM redemption"
                " than the share of the returned goods (%(share)s): the customer got"
                " that much less in cash.",
                refund=refund.name,
                amount=money(kept - share),
                share=money(share),
            )
        refund.crmcom_warning = warning


def redemption_share(order, returned):
    """The part of ``order``'s redemption that its refunds keep back for the wallet
    once ``returned`` ({sold line: quantity returned}) is back: the redemption x value
    returned / value sold (amounts with taxes, after line discounts, the redemption
    line left out), rounded to the currency; all of it once every item is back. The
    till computes the same (TicketScreen)."""
    given = -sum(order._crmcom_redemption_lines().mapped("price_subtotal_incl"))
    sold = order._crmcom_sold_lines()
    value_sold = sum(sold.mapped("price_subtotal_incl"))
    if all(
        float_compare(
            returned.get(line, 0.0), line.qty, precision_rounding=line.product_uom_id.rounding
        )
        >= 0
        for line in sold
    ):
        return order.currency_id.round(given)
    if not value_sold:
        return 0.0
    value_returned = sum(
        line.price_subtotal_incl * min(returned.get(line, 0.0), line.qty) / line.qty
        for line in sold
    )
    return order.currency_id.round(given * value_returned / value_sold)
