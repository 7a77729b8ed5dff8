import hashlib
import json

import psycopg2.errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..crmcom import BACK_END_REDUCTION, Purchase
from ..flows import cancellation, sender
from ..flows import purchase as purchases
from ..flows.errors import CrmcomOrderError
from . import trust

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

    def init(self):
        result = super().init()
        # For the monitoring route (models/crmcom_metrics.py): the orders CRM.COM work
        # is open for, a small part of the table whatever its size, with what the
        # state counts and the backlog read (index-only scans).
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS pos_order_crmcom_metrics_open_idx
                   ON pos_order (crmcom_state)
              INCLUDE (state, create_date, crmcom_first_attempt_at, crmcom_next_attempt_at)
                WHERE crmcom_state IN ('pending', 'failed', 'cancel_pending', 'refund_pending')"""
        )
        return result

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
            cancellation.queue_cancel(trust.in_flow(cancelled))
        if vals.get("state") in sender.PAID_STATES:
            sender.queue_paid(trust.in_flow(self))
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

    def _crmcom_redemption_given(self):
        """The CRM.COM redemption this order deducted (its redemption lines)."""
        self.ensure_one()
        return self.currency_id.round(
            -sum(self._crmcom_redemption_lines().mapped("price_subtotal_incl"))
        )

    def _crmcom_redemption_product(self):
        return self.company_id._crmcom_redemption_product()

    def _crmcom_redemption_lines(self):
        redemption = self._crmcom_redemption_product()
        return self.lines.filtered(lambda line: line.product_id == redemption)

    def _crmcom_sold_lines(self):
        """The items sold: the lines the redemption share is measured against."""
        redemption = self._crmcom_redemption_product()
        return self.lines.filtered(lambda line: line.qty > 0 and line.product_id != redemption)

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

    def _crmcom_spent(self):
        """What CRM.COM spent of the wallet on the order: additional + instant +
        automatic spend."""
        self.ensure_one()
        return (
            self.crmcom_additional_spend_amount
            + self.crmcom_instant_spend_amount
            + self.crmcom_automatic_spend_amount
        )

    def _crmcom_redemption(self):
        """What the till deducts: what CRM.COM spent, at a front-end till; nothing at a
        back-end one (CRM.COM refunds the customer through its payment gateway)."""
        self.ensure_one()
        if self.crmcom_reduction_method == BACK_END_REDUCTION:
            return 0.0
        return self._crmcom_spent()

    def _crmcom_write_redemption(self):
        """Redemption = additional + instant + automatic spend (none at a back-end till:
        CRM.COM refunds it); wallet after = before + awarded - spent (the guide's
        formulas). The redemption is also what the order may deduct at most."""
        self.ensure_one()
        redemption = self._crmcom_redemption()
        self.write(
            {
                "crmcom_redemption_amount": redemption,
                "crmcom_redemption_allowed": redemption,
                "crmcom_wallet_after": self.crmcom_wallet_before
                + self.crmcom_awarded_amount
                - self._crmcom_spent(),
            }
        )

    # --------------------------------------------------- locks (README › Design)

    def _crmcom_lock(self):
        """Lock these orders' rows until commit: one till request, Retry or sender at
        a time per order."""
        if self:
            self.env.cr.execute(
                SQL("SELECT id FROM pos_order WHERE id IN %s FOR UPDATE", tuple(self.ids))
            )
            self.invalidate_recordset()

    def _crmcom_recover(self):
        """Give back to these orders (their rows locked) the attempts that lost
        requests made (crmcom.attempt.journal). Returns the orders recovered."""
        return self.env["crmcom.attempt.journal"]._recover_purchases(self)

    def _crmcom_lock_and_recover(self):
        """The first step of every flow that may call CRM.COM for these orders: lock
        them, then take back what lost requests did. Returns the orders recovered."""
        self._crmcom_lock()
        return self._crmcom_recover()

    def _crmcom_lock_unless_busy(self):
        """Those of these orders that no other transaction holds, locked now."""
        if not self:
            return self
        held = self._crmcom_lock_rows(
            SQL("SELECT id FROM pos_order WHERE id IN %s FOR UPDATE SKIP LOCKED", tuple(self.ids))
        )
        return self.browse(held.ids)

    @api.model
    def _crmcom_lock_rows(self, query):
        """The orders whose rows ``query`` (a SELECT id ... FOR UPDATE SKIP LOCKED)
        locked. A row another transaction changed since this one's snapshot cannot be
        locked (repeatable read): then none, and the orders wait for the sender's next
        run instead of failing this one."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(query, log_exceptions=False)
                ids = [row[0] for row in self.env.cr.fetchall()]
        except psycopg2.errors.SerializationFailure:
            ids = []
        orders = self.sudo().browse(ids)
        orders.invalidate_recordset()
        return orders

    # ---------------------------------------------- value hooks (README › Extending)

    def _crmcom_prepare_purchase(self, reference=None):
        """The keyword arguments of the ``crmcom.Purchase`` this order is sent as
        (``customer_events/purchases/create``). Extend it to add or change what
        CRM.COM receives (e.g. a ``description``); the parts have hooks of their own."""
        self.ensure_one()
        config = self.config_id
        return {
            "customer": self._crmcom_customer_identifier(),
            "unit": config._crmcom_unit_identifier(),
            "performed_on": self._crmcom_performed_on(),
            "lines": self._crmcom_prepare_purchase_lines(),
            "external_system": config._crmcom_external_system(),
            **self._crmcom_reference_numbers(reference),
        }

    def _crmcom_customer_identifier(self):
        """``accounts_receivable_identifier``: the customer's, in the order's company."""
        self.ensure_one()
        return self.partner_id._crmcom_customer_identifier(self.company_id)

    def _crmcom_reference_numbers(self, reference=None):
        """``reference_number`` (the order's reference, ``<reference>/<n>`` for the
        next purchases) and ``external_system_reference_number``, documented as unique
        per purchase: the order's uuid, ``<uuid>/<n>`` for the next purchases, the
        same for every attempt at one purchase."""
        self.ensure_one()
        external = self.uuid or None
        if external and self.crmcom_sequence:
            external = f"{self.uuid}/{self.crmcom_sequence + 1}"
        return {
            "reference_number": reference or self.crmcom_reference or self.pos_reference,
            "external_system_reference_number": external,
        }

    def _crmcom_performed_on(self):
        """The time of the sale, in the till's zone (also for orders that reach the
        server late)."""
        self.ensure_one()
        return purchases.local_time(self.date_order, self.user_id, self.company_id)

    def _crmcom_prepare_purchase_lines(self):
        """``products_set``: each line as its hook ``pos.order.line.
        _crmcom_prepare_purchase_line`` gives it, in company currency, the redemption
        left out, order-wide discounts spread (see flows/purchase.purchase_lines)."""
        self.ensure_one()
        return purchases.purchase_lines(
            self.company_id,
            [line._crmcom_prepare_purchase_line() for line in self.lines],
            currency=self.currency_id,
            date=self.date_order,
        )

    def _crmcom_purchase(self, reference=None):
        """The order's purchase as the hooks build it. CrmcomOrderError when the order
        itself is at fault (its lines, its till): it fails with the reason, and never
        stops the sender from sending the others."""
        self.ensure_one()
        if not self.config_id.crmcom_unit_value:
            raise CrmcomOrderError(
                _("The point of sale %(pos)s has no CRM.COM unit.", pos=self.config_id.name)
            )
        try:
            return Purchase(**self._crmcom_prepare_purchase(reference))
        except ValueError as error:
            raise CrmcomOrderError(
                _("This order cannot be sent to CRM.COM as it is: %(problem)s", problem=error)
            ) from None

    # ------------------------------------------------------------ entry points

    def _crmcom_queue_cancel(self):
        """Cancel the purchases of these orders in CRM.COM, right after commit."""
        cancellation.queue_cancel(trust.in_flow(self))

    def _crmcom_wake_sender(self, at=None):
        self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit")._trigger(at)

    @api.model
    @trust.flow
    def _crmcom_cron_send(self, batch_size=1000, *, commit=True):
        """Scheduled action: send up to ``batch_size`` due orders (their purchases,
        cancellations and waiting refunds); wakes itself up again while some remain.
        Returns how many were handled."""
        # The CRM.COM fields are not tracked: spare each write the chatter's work.
        handled = sender.send_due(
            self.with_context(tracking_disable=True), batch_size, commit=commit
        )
        if handled >= batch_size:
            self._crmcom_wake_sender()
        return handled

    def action_crmcom_retry(self):
        """Send again the orders whose submission failed (exactly once: an order whose
        purchase may have reached CRM.COM is looked up there first)."""
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise AccessError(_("Only Point of Sale managers can send orders to CRM.COM again."))
        failed = self.filtered(lambda order: order.crmcom_state == "failed")
        failed.check_access("write")
        return sender.retry(trust.in_flow(failed).sudo())

    @api.autovacuum
    @trust.flow
    def _gc_crmcom_forgotten_attempts(self):
        """Journal rows left by lost requests whose order nothing touched since: the
        orders are recovered as their next step would do (orders someone holds now
        are left for the next vacuum), and rows of orders gone or done are removed."""
        journal = self.env["crmcom.attempt.journal"]
        uuids = journal._stale_uuids()
        if not uuids:
            return
        existing = self.sudo().search([("uuid", "in", uuids)])
        held = existing.with_context(tracking_disable=True)._crmcom_lock_unless_busy()
        done = cancellation.recover_forgotten(held.with_context(tracking_disable=True))
        journal._delete_stale(keep=existing - done)


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
