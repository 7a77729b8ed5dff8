from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare

CRMCOM_STATES = [
    ("none", "Not applicable"),
    ("pending", "Pending"),
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("cancel_pending", "Cancellation pending"),
    ("cancelled", "Cancelled"),
]
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
    crmcom_sent_at = fields.Datetime(string="CRM.COM Sent On", copy=False, readonly=True)
    # Administrators only: the till reads every order field it may (see
    # point_of_sale's read_pos_data), and the call log is not the cashier's.
    crmcom_log_ids = fields.One2many(
        "crmcom.call.log",
        "pos_order_id",
        string="CRM.COM Calls",
        readonly=True,
        groups="base.group_system",
    )

    @api.model
    def _process_order(self, order, existing_order):
        # The till never writes the CRM.COM story of an order (it may send back
        # every field it loaded, or be crafted): the server decides.
        for key in [key for key in order if key.startswith("crmcom_")]:
            del order[key]
        return super()._process_order(order, existing_order)

    def action_pos_order_paid(self):
        # Paid at the till (order sync) or in the back office: queue for CRM.COM.
        result = super().action_pos_order_paid()
        self._crmcom_queue()
        return result

    def _crmcom_queue(self):
        """Queue the purchase of every paid sale to a CRM.COM customer at a till with
        rewards on. The sender runs right after this transaction commits (Odoo's
        cron, triggered now): the sale never waits for CRM.COM."""
        to_send = self.filtered(
            lambda order: order.crmcom_state == "none"
            and order.state in ("paid", "done", "invoiced")
            and order.amount_total > 0
            and not order.lines.refunded_orderline_id
            and (order.partner_id.crmcom_account_number or order.partner_id.crmcom_account_id)
            and order.config_id._crmcom_active()
        )
        if to_send:
            to_send.write(
                {"crmcom_state": "pending", "crmcom_next_attempt_at": fields.Datetime.now()}
            )
            self._crmcom_wake_sender()
        refunded = self.filtered(lambda order: order.state in ("paid", "done", "invoiced"))
        refunded.lines.refunded_orderline_id.order_id._crmcom_refunded()
        return to_send

    def _crmcom_refunded(self):
        """Orders some of whose items were refunded. A full refund cancels the
        purchase in CRM.COM (its awards and spends are reversed there); a partial
        one cancels it and sends the items kept as a new purchase, spending again
        the redemption the customer keeps (see README, Refunds)."""
        for order in self:
            redemption = order._crmcom_redemption_product()
            sold = order.lines.filtered(
                lambda line, redemption=redemption: line.qty > 0
                and line.product_id != redemption
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
                overpaid = order._crmcom_redemption_to_keep()
                if not order.currency_id.is_zero(overpaid):
                    order.crmcom_warning = _(
                        "The refund paid back %(amount)s of CRM.COM rewards in cash"
                        " although CRM.COM gives them back to the wallet.",
                        amount=overpaid,
                    )
            elif order.crmcom_state == "sent" or (
                order.crmcom_state in ("pending", "failed") and order.crmcom_attempts
            ):
                order.crmcom_replace_after_cancel = True
                order._crmcom_queue_cancel()

    def _crmcom_redemption_product(self):
        return self.env["crmcom.rewards"]._redemption_product(self.company_id)

    def _crmcom_redemption_to_keep(self):
        """The till's redemption on this order that the customer still has:
        the discount given, less what refunds gave back to the wallet (refunded
        redemption lines)."""
        self.ensure_one()
        redemption = self._crmcom_redemption_product()
        lines = self.lines.filtered(lambda line: line.product_id == redemption)
        given = -sum(lines.mapped("price_subtotal_incl"))
        kept_back = sum(lines.refund_orderline_ids.mapped("price_subtotal_incl"))
        return self.currency_id.round(given - kept_back)

    def _crmcom_queue_cancel(self):
        """Cancel the purchases of these orders in CRM.COM, right after commit."""
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

    def action_pos_order_cancel(self):
        # A draft abandoned at the till after a redemption: its purchase goes too.
        drafts = self.filtered(lambda order: order.state == "draft")
        result = super().action_pos_order_cancel()
        drafts.filtered(lambda order: order.state == "cancel")._crmcom_queue_cancel()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_crmcom_purchase(self):
        if self.filtered(lambda order: order.crmcom_state in ("sent", "cancel_pending")):
            raise UserError(
                _(
                    "This order has a purchase in CRM.COM: cancel the order first, so that"
                    " CRM.COM cancels the purchase, then delete it."
                )
            )

    def action_crmcom_retry(self):
        """Send again the orders whose submission failed (exactly once: an order whose
        purchase may have reached CRM.COM is looked up there first)."""
        failed = self.filtered(lambda order: order.crmcom_state == "failed")
        if not failed:
            return _notify(_("No failed CRM.COM submission among these orders."), "warning")
        return self.env["crmcom.rewards"]._retry_orders(failed)


def _notify(message, kind):
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {"message": message, "type": kind},
    }
