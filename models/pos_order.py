import hashlib
import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import float_compare, format_amount

from . import trust

_logger = logging.getLogger(__name__)

CRMCOM_STATES = [
    ("none", "Not applicable"),
    ("pending", "Pending"),
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("cancel_pending", "Cancellation pending"),
    ("cancelled", "Cancelled"),
    # A refund whose original order a worker was sending: applied by the sender.
    ("refund_pending", "Refund to apply"),
]
# Above this many orders in one sync, the sync takes one exclusive lock instead of
# one lock per order: PostgreSQL's lock table is sized for about 64 per transaction.
SYNC_LOCKS_PER_ORDER_MAX = 64
REDUCTION_METHODS = [
    ("FRONT_END_REDUCTION", "Front-end reduction"),
    ("BACK_END_REDUCTION", "Back-end reduction"),
]


class PosOrder(models.Model):
    _inherit = "pos.order"

    crmcom_state = fields.Selection(
        CRMCOM_STATES,
        string="CRM.COM Submission",
        default="none",
        required=True,
        copy=False,
        index=True,
        readonly=True,
    )
    crmcom_reference = fields.Char(
        string="CRM.COM Reference Number",
        copy=False,
        readonly=True,
        help="The reference number the purchase was (or will be) sent with.",
    )
    crmcom_sequence = fields.Integer(
        string="CRM.COM Purchases Cancelled",
        copy=False,
        readonly=True,
        help="Purchases of this order cancelled so far; the next one is sent with the"
        " reference number <order reference>/<count + 1>.",
    )
    crmcom_replace_after_cancel = fields.Boolean(
        string="CRM.COM Send Kept Items Again",
        copy=False,
        readonly=True,
        help="After a partial refund: once the purchase is cancelled, the items kept"
        " are sent as a new purchase.",
    )
    crmcom_purchase_id = fields.Char(string="CRM.COM Purchase Id", copy=False, readonly=True)
    crmcom_purchase_number = fields.Char(
        string="CRM.COM Purchase Number", copy=False, readonly=True, index="btree_not_null"
    )
    crmcom_spend_id = fields.Char(string="CRM.COM Spend Request Id", copy=False, readonly=True)
    crmcom_spend_number = fields.Char(
        string="CRM.COM Spend Request Number", copy=False, readonly=True
    )
    crmcom_reduction_method = fields.Selection(
        REDUCTION_METHODS, string="CRM.COM Reduction Method", copy=False, readonly=True
    )
    crmcom_awarded_amount = fields.Float(
        string="CRM.COM Awarded", digits=(16, 2), copy=False, readonly=True
    )
    crmcom_instant_spend_amount = fields.Float(
        string="CRM.COM Instant Spend", digits=(16, 2), copy=False, readonly=True
    )
    crmcom_automatic_spend_amount = fields.Float(
        string="CRM.COM Automatic Spend", digits=(16, 2), copy=False, readonly=True
    )
    crmcom_additional_spend_amount = fields.Float(
        string="CRM.COM Additional Spend", digits=(16, 2), copy=False, readonly=True
    )
    crmcom_redemption_amount = fields.Float(
        string="CRM.COM Redemption",
        digits=(16, 2),
        copy=False,
        readonly=True,
        help="What CRM.COM really spent on this order and the till deducted.",
    )
    crmcom_redemption_allowed = fields.Float(
        string="CRM.COM Redemption Confirmed",
        digits=(16, 2),
        copy=False,
        readonly=True,
        help="The redemption CRM.COM confirmed to the till after the server's spend"
        " checks: the most the order may deduct, and the most the sender spends again"
        " after a cancellation.",
    )
    crmcom_paid_checked = fields.Boolean(
        string="CRM.COM Payment Handled",
        copy=False,
        readonly=True,
        help="The order's payment was handled for CRM.COM (queued, checked, refund"
        " applied): once only, whoever pays or marks it paid again.",
    )
    crmcom_basket_digest = fields.Char(
        string="CRM.COM Basket Fingerprint",
        copy=False,
        readonly=True,
        help="The customer, price list, fiscal position and sale lines of a draft whose"
        " purchase is in CRM.COM: the order may not change any of them.",
    )
    crmcom_wallet_before = fields.Float(
        string="CRM.COM Wallet Before", digits=(16, 2), copy=False, readonly=True
    )
    crmcom_wallet_after = fields.Float(
        string="CRM.COM Wallet After",
        digits=(16, 2),
        copy=False,
        readonly=True,
        help="Wallet before + awarded - redemption.",
    )
    crmcom_attempts = fields.Integer(string="CRM.COM Attempts", copy=False, readonly=True)
    crmcom_first_attempt_at = fields.Datetime(
        string="CRM.COM First Attempt", copy=False, readonly=True
    )
    crmcom_next_attempt_at = fields.Datetime(
        string="CRM.COM Next Attempt", copy=False, readonly=True, index="btree_not_null"
    )
    crmcom_last_error = fields.Text(string="CRM.COM Last Error", copy=False, readonly=True)
    crmcom_warning = fields.Text(
        string="CRM.COM Check",
        copy=False,
        readonly=True,
        help="Where the till and CRM.COM disagree on money (e.g. a refund paid rewards"
        " back in cash): for the back office to look at.",
    )
    crmcom_sent_at = fields.Datetime(
        string="CRM.COM Sent On", copy=False, readonly=True, index="btree_not_null"
    )
    # Administrators only: the till reads every order field it may (see
    # point_of_sale's read_pos_data), and the call log is not the cashier's.
    crmcom_log_ids = fields.One2many(
        "crmcom.call.log",
        "pos_order_id",
        string="CRM.COM Calls",
        readonly=True,
        groups="base.group_system",
    )

    # ------------------------------------------------------- who writes what

    @api.model_create_multi
    def create(self, vals_list):
        orders = self
        if not trust.is_flow(self.env):
            for vals in vals_list:
                _refuse_story_fields(self.env, vals)
            orders = trust.without_defaults(self, _is_story_field)
        return super(PosOrder, orders).create(vals_list)

    def write(self, vals):
        if not trust.is_flow(self.env):
            _refuse_story_fields(self.env, vals)
            if "partner_id" in vals and not trust.in_checked_sync(self.env):
                self._crmcom_refuse_customer_change(vals["partner_id"])
        cancelled = self.browse()
        if vals.get("state") == "cancel":
            cancelled = self.filtered(lambda order: order.state != "cancel")
        result = super().write(vals)
        # However an order gets there (paid at the till or in the back office,
        # a draft abandoned at the till, or a plain write of its state), CRM.COM
        # follows: a cancelled order's purchase is cancelled, a paid one is queued
        # once (Odoo's action_pos_order_paid / _cancel write the state).
        if cancelled:
            trust.in_flow(cancelled)._crmcom_queue_cancel()
        if vals.get("state") in ("paid", "done", "invoiced"):
            trust.in_flow(self)._crmcom_queue()
        return result

    def _crmcom_refuse_customer_change(self, partner_id):
        """The customer of an order whose purchase CRM.COM holds (or will) is the
        one CRM.COM knows: awards must not move to another member."""
        changed = self.filtered(
            lambda order: order.partner_id.id != (partner_id or False)
            and order._crmcom_basket_locked()
        )
        if changed:
            raise AccessError(
                _(
                    "The customer of an order sent to CRM.COM cannot change: CRM.COM holds"
                    " its purchase for %(name)s.",
                    name=changed[0].partner_id.display_name,
                )
            )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_crmcom_purchase(self):
        if self.filtered(lambda order: order.crmcom_state not in ("none", "cancelled")):
            raise UserError(
                _(
                    "This order has a purchase in CRM.COM: cancel the order first, so that"
                    " CRM.COM cancels the purchase, then delete it."
                )
            )

    def _crmcom_refuse_basket_change(self):
        """Lines of these orders are about to change outside a till sync (an RPC, the
        back office): refused once CRM.COM holds what they were."""
        if self.exists().filtered(lambda order: order._crmcom_basket_locked()):
            raise AccessError(
                _(
                    "CRM.COM holds the purchase of this order: its lines change only"
                    " through the till (after Cancel redemption) or a refund."
                )
            )

    def _crmcom_basket_locked(self):
        """The sale lines of this order may no longer change: a draft whose purchase
        (and redemption) the till holds, or a sale whose CRM.COM story has begun."""
        self.ensure_one()
        if self.state == "draft":
            return self.crmcom_state == "sent"
        return self.crmcom_state != "none"

    # ------------------------------------------------------------- till sync

    @api.model
    def sync_from_ui(self, orders):
        self._crmcom_claim_uuids(orders)
        return super().sync_from_ui(orders)

    @api.model
    def _crmcom_claim_uuids(self, orders):
        """One request at a time saves a given order. Two syncs of the same order at
        once (a till sending again a slow request, two tabs) would both miss the
        other's uncommitted order and create it twice: the second one failed on
        the unique uuid with an error for the cashier. Now the second one stops
        with PostgreSQL's lock_not_available, which Odoo's RPC layer
        (odoo.service.model.retrying) answers by rolling back and calling again, on
        a snapshot that sees the first one's order: the same answer, one order.

        A sync of many orders (a till back online) takes one exclusive lock
        instead, which the others share: the locks a sync takes stay bounded."""
        if not isinstance(orders, list):
            return
        uuids = sorted(
            {
                order["uuid"]
                for order in orders
                if isinstance(order, dict) and isinstance(order.get("uuid"), str)
            }
        )
        if len(uuids) > SYNC_LOCKS_PER_ORDER_MAX:
            self.env.cr.execute("SELECT pg_advisory_xact_lock(hashtext('pos.order.sync:*'))")
            return
        self.env.cr.execute("SELECT pg_advisory_xact_lock_shared(hashtext('pos.order.sync:*'))")
        for uuid in uuids:
            key = f"pos.order.sync:{uuid}"
            self.env.cr.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [key])
            if self.env.cr.fetchone()[0]:
                continue
            self.env.cr.execute("SET LOCAL lock_timeout = 1")
            self.env.cr.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [key], log_exceptions=False
            )
            # Reached only when the other request finished meanwhile.
            self.env.cr.execute("SET LOCAL lock_timeout = DEFAULT")

    @api.model
    def _process_order(self, order, existing_order):
        # The till never writes the CRM.COM story of an order (it may send back
        # every field it loaded, or be crafted): the server decides.
        for key in [key for key in order if key.startswith("crmcom_")]:
            del order[key]
        locked = existing_order and existing_order._crmcom_basket_locked()
        checked = self.with_context(**{trust.CONTEXT_KEY: trust.CHECKED_SYNC})
        order_id = super(PosOrder, checked)._process_order(
            order, existing_order and existing_order.with_env(checked.env)
        )
        if locked:
            saved = self.browse(order_id)
            if saved.state == "draft" and saved._crmcom_basket_changed():
                # Invariant "server decides": CRM.COM holds the purchase of the basket
                # the till redeemed on; the till itself refuses these changes.
                raise UserError(
                    _(
                        "CRM.COM has already redeemed rewards on this order: cancel the"
                        " redemption before changing it."
                    )
                )
        return order_id

    def _crmcom_basket_fingerprint(self):
        """What CRM.COM was told about this order and the till must not change: the
        customer, price list, fiscal position and every line but the redemption."""
        self.ensure_one()
        currency = self.currency_id
        redemption = self._crmcom_redemption_product()
        lines = sorted(
            (
                line.product_id.id,
                round(line.qty, 6),
                round(line.discount or 0.0, 6),
                currency.round(line.price_subtotal),
                currency.round(line.price_subtotal_incl),
            )
            for line in self.lines
            if line.product_id != redemption
        )
        basket = [self.partner_id.id, self.pricelist_id.id, self.fiscal_position_id.id, lines]
        return hashlib.sha256(json.dumps(basket).encode()).hexdigest()

    def _crmcom_basket_changed(self):
        self.ensure_one()
        return bool(self.crmcom_basket_digest) and (
            self.crmcom_basket_digest != self._crmcom_basket_fingerprint()
        )

    def _crmcom_queue(self):
        """Queue the purchase of every paid sale to a CRM.COM customer at a till with
        rewards on. The sender runs right after this transaction commits (Odoo's
        cron, triggered now): the sale never waits for CRM.COM. Each order once:
        paying it again (a public method) changes nothing."""
        orders = self.filtered(
            lambda order: not order.crmcom_paid_checked
            and order.state in ("paid", "done", "invoiced")
        )
        if not orders:
            return orders
        orders.crmcom_paid_checked = True
        paid = orders.filtered(lambda order: not order.lines.refunded_orderline_id)
        sales = paid.filtered(
            lambda order: order.amount_total > 0
            and order.partner_id._crmcom_linked_to(order.company_id)
            and order.config_id._crmcom_active()
        )
        # A till request that died after calling CRM.COM: its purchase is looked
        # up, and a purchase it may have spent on is sent again (exactly once).
        recovered = self.env["crmcom.attempt.journal"]._recover_purchases(sales)
        replaced = self.env["crmcom.rewards"]._replace_after_lost_spends(sales)
        replaced |= (paid - replaced)._crmcom_check_paid()
        to_send = sales.filtered(lambda order: order.crmcom_state == "none")
        if to_send:
            to_send.write(
                {"crmcom_state": "pending", "crmcom_next_attempt_at": fields.Datetime.now()}
            )
        if to_send or recovered or replaced:
            self._crmcom_wake_sender()
        refunds = orders - paid
        refunds._crmcom_check_redemption_share()
        refunds._crmcom_apply_refunds()
        return to_send

    def _crmcom_apply_refunds(self):
        """Apply these refunds to the purchases of their original orders, now if
        no one holds those orders. An original the sender holds (its purchase on
        its way to CRM.COM) is not waited for: the sale never waits for CRM.COM.
        The refund is then marked and the sender applies it once it let go.
        Returns the refunds applied."""
        originals = self.lines.refunded_orderline_id.order_id.filtered(
            lambda order: order.crmcom_state != "none"
        )
        held = originals.browse(self.env["crmcom.rewards"]._lock_unless_busy(originals).ids)
        held._crmcom_refunded()
        waiting = self.filtered(
            lambda refund: refund.lines.refunded_orderline_id.order_id & (originals - held)
        )
        if waiting:
            waiting.write(
                {"crmcom_state": "refund_pending", "crmcom_next_attempt_at": fields.Datetime.now()}
            )
            self._crmcom_wake_sender()
        applied = self - waiting
        applied.filtered(lambda refund: refund.crmcom_state == "refund_pending").write(
            {"crmcom_state": "none", "crmcom_next_attempt_at": False}
        )
        return applied

    def _crmcom_refunded(self):
        """Orders some of whose items were refunded. A full refund cancels the
        purchase in CRM.COM (its awards and spends are reversed there); a partial
        one cancels it and sends the items kept as a new purchase, spending again
        the redemption the customer keeps (see README, Refunds)."""
        rewards = self.env["crmcom.rewards"]
        self.env["crmcom.attempt.journal"]._recover_purchases(self)
        for order in self.filtered(lambda order: order.crmcom_state != "none"):
            # Decide under the row lock, and always write the order: a sender
            # holding an older snapshot (the order without this refund) then fails
            # on the row instead of sending items that were just returned.
            rewards._lock(order)
            order.crmcom_warning = order._crmcom_joined_warning()
            redemption = order._crmcom_redemption_product()
            sold = order.lines.filtered(
                lambda line, redemption=redemption: line.qty > 0 and line.product_id != redemption
            )
            kept = [
                line
                for line in sold
                if float_compare(
                    line.refunded_qty, line.qty, precision_rounding=line.product_uom_id.rounding
                )
                < 0
            ]
            if not kept:
                order.crmcom_replace_after_cancel = False
                order._crmcom_queue_cancel()
            elif order.crmcom_state == "sent" or (
                order.crmcom_state in ("pending", "failed") and order.crmcom_attempts
            ):
                order.crmcom_replace_after_cancel = True
                order._crmcom_queue_cancel()

    def _crmcom_check_paid(self):
        """Invariant "server decides", at payment: the paid order against what
        CRM.COM holds. A basket changed since its purchase, or a redemption line
        below what CRM.COM spent, has its purchase replaced (cancelled, then the
        order sent again, spending at most the redemption confirmed); a redemption
        line above what CRM.COM confirmed is never spent after the sale. Each is
        written to the order's CRM.COM check. Returns the orders replaced."""
        replaced = self.browse()
        for order in self:
            currency = order.currency_id
            given = order._crmcom_redemption_given()
            allowed = order.crmcom_redemption_allowed
            messages = []

            def money(amount, currency=currency):
                return format_amount(self.env, amount, currency)

            has_purchase = order.crmcom_state == "sent" and bool(order.crmcom_purchase_id)
            replace = False
            if has_purchase and order._crmcom_basket_changed():
                replace = True
                messages.append(
                    _(
                        "The order was paid with other items, amounts or customer than the"
                        " purchase CRM.COM holds: that purchase is cancelled and the order"
                        " sent again as paid."
                    )
                )
            elif (
                has_purchase and currency.compare_amounts(given, order.crmcom_redemption_amount) < 0
            ):
                replace = True
                messages.append(
                    _(
                        "The till deducted %(given)s of CRM.COM rewards but CRM.COM spent"
                        " %(spent)s: the purchase is cancelled and the order sent again, so"
                        " that the wallet keeps the difference.",
                        given=money(given),
                        spent=money(order.crmcom_redemption_amount),
                    )
                )
            if currency.compare_amounts(given, allowed) > 0:
                messages.append(
                    _(
                        "The till deducted %(given)s of CRM.COM rewards, but CRM.COM"
                        " confirmed %(allowed)s: %(gap)s was given without rewards, and is"
                        " not spent in CRM.COM after the sale.",
                        given=money(given),
                        allowed=money(allowed),
                        gap=money(given - allowed),
                    )
                )
            if not messages:
                continue
            _logger.warning("Order %s: %s", order.pos_reference, " ".join(messages))
            order.crmcom_warning = order._crmcom_joined_warning(*messages)
            if replace:
                replaced |= order
        self.env["crmcom.rewards"]._replace_later(replaced)
        return replaced

    def _crmcom_redemption_given(self):
        """The CRM.COM redemption this order deducted (its redemption lines)."""
        self.ensure_one()
        return self.currency_id.round(
            -sum(self._crmcom_redemption_lines().mapped("price_subtotal_incl"))
        )

    def _crmcom_redemption_product(self):
        return self.env["crmcom.rewards"]._redemption_product(self.company_id)

    def _crmcom_redemption_lines(self):
        redemption = self._crmcom_redemption_product()
        return self.lines.filtered(lambda line: line.product_id == redemption)

    def _crmcom_sold_lines(self):
        """The items sold: the lines the redemption share is measured against."""
        redemption = self._crmcom_redemption_product()
        return self.lines.filtered(lambda line: line.qty > 0 and line.product_id != redemption)

    def _crmcom_redemption_share(self, returned):
        """The part of this order's redemption that its refunds keep back for the
        wallet once ``returned`` ({sold line: quantity returned}) is back: the
        redemption x value returned / value sold (amounts with taxes, after line
        discounts, the redemption line left out), rounded to the currency; all of
        it once every item is back. The till computes the same (TicketScreen)."""
        self.ensure_one()
        given = -sum(self._crmcom_redemption_lines().mapped("price_subtotal_incl"))
        sold = self._crmcom_sold_lines()
        value_sold = sum(sold.mapped("price_subtotal_incl"))
        if all(
            float_compare(
                returned.get(line, 0.0), line.qty, precision_rounding=line.product_uom_id.rounding
            )
            >= 0
            for line in sold
        ):
            return self.currency_id.round(given)
        if not value_sold:
            return 0.0
        value_returned = sum(
            line.price_subtotal_incl * min(returned.get(line, 0.0), line.qty) / line.qty
            for line in sold
        )
        return self.currency_id.round(given * value_returned / value_sold)

    def _crmcom_check_redemption_share(self):
        """Refunds (invariant "server decides"): each refund of an order paid with a
        CRM.COM redemption must keep back, on a line refunding the redemption line,
        the redemption share of the goods it returns (what the till adds by
        itself). Anything else is written on the refund and its order for the back
        office; the money is still followed as the till did it (the rewards kept
        back go back to the wallet, the rest stays spent)."""
        for refund in self:
            original = refund.lines.refunded_orderline_id.order_id[:1]
            if not original._crmcom_redemption_lines():
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
                original._crmcom_redemption_share(after) - original._crmcom_redemption_share(before)
            )
            redemption_lines = original._crmcom_redemption_lines()
            kept = currency.round(
                sum(
                    refund.lines.filtered(
                        lambda line, redemption_lines=redemption_lines: line.refunded_orderline_id
                        in redemption_lines
                    ).mapped("price_subtotal_incl")
                )
            )

            def money(amount, currency=currency):
                return format_amount(self.env, amount, currency)

            warning = False
            if currency.compare_amounts(kept, share) < 0:
                warning = _(
                    "Refund %(refund)s paid back %(amount)s of CRM.COM rewards in cash: the"
                    " redemption share of the returned goods, %(share)s, goes back to the"
                    " wallet, and the refund kept back %(kept)s.",
                    refund=refund.name,
                    amount=money(share - kept),
                    share=money(share),
                    kept=money(kept),
                )
            elif currency.compare_amounts(kept, share) > 0:
                warning = _(
                    "Refund %(refund)s kept back %(amount)s more of the CRM.COM redemption"
                    " than the share of the returned goods (%(share)s): the customer got"
                    " that much less in cash.",
                    refund=refund.name,
                    amount=money(kept - share),
                    share=money(share),
                )
            refund.crmcom_warning = warning

    def _crmcom_joined_warning(self, *messages):
        """The CRM.COM Check of an order: ``messages`` and its refunds' checks."""
        self.ensure_one()
        refunds = self.lines.refund_orderline_ids.order_id.filtered(
            lambda refund: refund.state != "cancel" and refund.crmcom_warning
        )
        warnings = [*filter(None, messages), *refunds.sorted("id").mapped("crmcom_warning")]
        return "\n".join(warnings) or False

    def _crmcom_redemption_to_keep(self):
        """The redemption on this order that the customer still has: the discount
        given, at most what CRM.COM confirmed to the till, less what refunds gave
        back to the wallet (refunded redemption lines)."""
        self.ensure_one()
        lines = self._crmcom_redemption_lines()
        given = min(self._crmcom_redemption_given(), self.crmcom_redemption_allowed)
        # A refund line gives the wallet back at most what it keeps back from the
        # cash (a line of the wrong sign gives nothing: a crafted refund must not
        # make the sender spend more of the wallet).
        kept_back = sum(
            max(0.0, amount)
            for amount in lines.refund_orderline_ids.filtered(
                lambda line: line.order_id.state != "cancel"
            ).mapped("price_subtotal_incl")
        )
        return self.currency_id.round(max(0.0, given - min(kept_back, given)))

    def _crmcom_queue_cancel(self):
        """Cancel the purchases of these orders in CRM.COM, right after commit."""
        self.env["crmcom.attempt.journal"]._recover_purchases(self)
        to_cancel = self.filtered(lambda order: order.crmcom_state in ("pending", "failed", "sent"))
        never_sent = to_cancel.filtered(
            lambda order: not order.crmcom_purchase_id and not order.crmcom_attempts
        )
        never_sent.write({"crmcom_state": "cancelled", "crmcom_next_attempt_at": False})
        if to_cancel - never_sent:
            (to_cancel - never_sent).write(
                {"crmcom_state": "cancel_pending", "crmcom_next_attempt_at": fields.Datetime.now()}
            )
            self._crmcom_wake_sender()

    def _crmcom_wake_sender(self):
        self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit")._trigger()

    def action_crmcom_retry(self):
        """Send again the orders whose submission failed (exactly once: an order whose
        purchase may have reached CRM.COM is looked up there first)."""
        failed = self.filtered(lambda order: order.crmcom_state == "failed")
        if not failed:
            return _notify(_("No failed CRM.COM submission among these orders."), "warning")
        return self.env["crmcom.rewards"]._retry_orders(failed)


def _is_story_field(name):
    return name.startswith("crmcom_")


def _refuse_story_fields(env, vals):
    fields_touched = trust.touched(vals, _is_story_field)
    if fields_touched:
        raise AccessError(
            env._(
                "The CRM.COM fields of an order are written by CRM.COM Rewards itself, as"
                " the order is paid, cancelled or refunded (%(fields)s). To send a failed"
                " order again, use Retry.",
                fields=", ".join(fields_touched),
            )
        )


def _notify(message, kind):
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {"message": message, "type": kind},
    }
