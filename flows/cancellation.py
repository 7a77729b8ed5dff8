"""Cancellations (guide, "Sales Transaction Cancellation Flow"): a cancelled order's
purchase is cancelled in CRM.COM, its awards and spends with it; a purchase that no
longer matches its order is cancelled and the order sent again as a new purchase
under the next reference number (``<reference>/2``, ``/3`` …).
"""

import logging

from odoo import fields

from ..crmcom import CrmcomAlreadyCancelledError, CrmcomError, read_purchase
from . import purchase as purchases
from .errors import CrmcomOrderError
from .messages import describe_error

_logger = logging.getLogger(__name__)

# What a cancelled purchase leaves behind: the next purchase starts afresh.
RESETTABLE_FIELDS = (
    "crmcom_purchase_id",
    "crmcom_purchase_number",
    "crmcom_spend_id",
    "crmcom_spend_number",
    "crmcom_reduction_method",
    "crmcom_awarded_amount",
    "crmcom_instant_spend_amount",
    "crmcom_automatic_spend_amount",
    "crmcom_additional_spend_amount",
    "crmcom_redemption_amount",
    "crmcom_wallet_before",
    "crmcom_wallet_after",
    "crmcom_attempts",
    "crmcom_first_attempt_at",
    "crmcom_next_attempt_at",
    "crmcom_last_error",
    "crmcom_sent_at",
    "crmcom_basket_digest",
)


def next_purchase_values(order, **values):
    """What starts the next purchase of ``order`` once its last one is cancelled: the
    earlier purchase forgotten, the next reference number (``<ref>/2``, ``/3``…)."""
    sequence = order.crmcom_sequence + 1
    return {
        **{name: False for name in RESETTABLE_FIELDS},
        "crmcom_sequence": sequence,
        "crmcom_reference": f"{order.pos_reference}/{sequence + 1}",
        **values,
    }


def queue_cancel(orders):
    """Cancel the purchases of these orders in CRM.COM, right after commit (the
    sender does it); orders that never reached CRM.COM are cancelled at once."""
    orders._crmcom_recover()
    to_cancel = orders.filtered(lambda order: order.crmcom_state in ("pending", "failed", "sent"))
    never_sent = to_cancel.filtered(
        lambda order: not order.crmcom_purchase_id and not order.crmcom_attempts
    )
    never_sent.write({"crmcom_state": "cancelled", "crmcom_next_attempt_at": False})
    if to_cancel - never_sent:
        (to_cancel - never_sent).write(
            {"crmcom_state": "cancel_pending", "crmcom_next_attempt_at": fields.Datetime.now()}
        )
        orders._crmcom_wake_sender()


def replace_later(orders):
    """Cancel the purchases of these paid orders in CRM.COM, then send the orders
    again as new purchases (next reference number), by the sender."""
    orders.write({"crmcom_replace_after_cancel": True})
    queue_cancel(orders)


def replace_after_lost_spends(orders):
    """Paid orders whose purchase a lost request may have given a spend (made at the
    till or by the sender, its answer never saved): whether it did or not, the
    purchase is cancelled (which gives any such spend back to the wallet) and the
    sale sent again, with the redemption the till really deducted. Returns them."""
    journal = orders.env["crmcom.attempt.journal"]
    lost = journal._lost_spends(orders)
    replaced = orders.filtered(
        lambda order: order.uuid in lost
        and order.crmcom_purchase_id
        and order.crmcom_state == "sent"
        and order.state in ("paid", "done", "invoiced")
    )
    for order in replaced:
        _logger.warning(
            "Order %s: a spend request on purchase %s may have reached CRM.COM without"
            " its answer being saved; the purchase is cancelled and sent again.",
            order.pos_reference,
            order.crmcom_purchase_number or order.crmcom_purchase_id,
        )
        journal._delete(lost[order.uuid])
    replace_later(replaced)
    return replaced


def cancel_purchase(order, *, raise_errors=False):
    """Cancel ``order``'s purchase in CRM.COM (its awards and spends with it). Returns
    True once it is cancelled; failures are retried later (and raised after being
    recorded, with ``raise_errors``)."""
    order.ensure_one()
    order._crmcom_lock()
    if order.crmcom_state != "cancel_pending":
        return order.crmcom_state == "cancelled"
    try:
        client = order.company_id._crmcom_client(order=order, partner=order.partner_id)
        if not order.crmcom_purchase_id:
            # Sent, but the answer was lost: find it before cancelling it.
            found = client.find_purchase(
                order._crmcom_customer_identifier(),
                order.crmcom_reference,
                submitted_after=(order.crmcom_first_attempt_at or order.date_order)
                - purchases.LOOKUP_MARGIN,
            )
            if found is None:  # never reached CRM.COM: nothing to cancel
                _after_cancel(order)
                return True
            purchases.store_purchase(order, read_purchase(found))
            order.crmcom_state = "cancel_pending"
        try:
            client.cancel_purchase({"id": order.crmcom_purchase_id})
        except CrmcomAlreadyCancelledError:
            # An earlier cancel whose answer was lost, or a cancel made in CRM.COM.
            _logger.info(
                "Order %s: its purchase %s was cancelled in CRM.COM already.",
                order.pos_reference,
                order.crmcom_purchase_number or order.crmcom_purchase_id,
            )
    except (CrmcomError, CrmcomOrderError) as error:
        # A cancellation never gives up: the customer must not keep the awards.
        order.write(
            {
                "crmcom_attempts": order.crmcom_attempts + 1,
                "crmcom_last_error": describe_error(order.env, error),
                "crmcom_next_attempt_at": fields.Datetime.now()
                + purchases.retry_delay(order.crmcom_attempts + 1),
            }
        )
        if raise_errors:
            raise
        return False
    _after_cancel(order)
    return True


def _after_cancel(order):
    """The purchase is cancelled (or never reached CRM.COM): the order is done with
    CRM.COM, unless a partial refund left items to send again as a new purchase."""
    if not order.crmcom_replace_after_cancel:
        order.write(
            {
                "crmcom_state": "cancelled",
                "crmcom_last_error": False,
                "crmcom_next_attempt_at": False,
            }
        )
        return
    order.write(
        next_purchase_values(
            order,
            crmcom_replace_after_cancel=False,
            crmcom_state="pending",
            crmcom_next_attempt_at=fields.Datetime.now(),
        )
    )


def recover_forgotten(orders):
    """The daily vacuum's part for orders whose journal rows outlived their request
    (a sale abandoned after its till request died, a Retry that died): recovered as
    their next step would do. ``orders`` are locked. Returns those done with CRM.COM."""
    orders._crmcom_recover()
    # An abandoned sale whose purchase may be in CRM.COM: cancel it there.
    queue_cancel(orders.filtered(lambda order: order.state == "cancel"))
    replace_after_lost_spends(orders)
    if orders.filtered(lambda order: order.crmcom_state in ("pending", "cancel_pending")):
        orders._crmcom_wake_sender()
    return orders.filtered(
        lambda order: order.state == "cancel" or order.crmcom_state == "cancelled"
    )
