from odoo import api, models

from . import trust

# What a line tells CRM.COM (products_set, totals) or the refunds measure against.
BASKET_FIELDS = frozenset(
    {
        "order_id",
        "product_id",
        "qty",
        "price_unit",
        "discount",
        "price_subtotal",
        "price_subtotal_incl",
        "tax_ids",
        "tax_ids_after_fiscal_position",
        "refunded_orderline_id",
    }
)


class PosOrderLine(models.Model):
    _inherit = "pos.order.line"

    def init(self):
        result = super().init()
        # The refunds of sold lines (refunded_qty, the redemption kept), read for
        # every chunk the sender builds: without it, a scan of all the lines ever
        # sold. Partial: only refund lines have one.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS pos_order_line_crmcom_refunded_line_idx
                   ON pos_order_line (refunded_orderline_id)
                WHERE refunded_orderline_id IS NOT NULL"""
        )
        return result

    @api.model_create_multi
    def create(self, vals_list):
        if not trust.in_checked_sync(self.env):
            order_ids = {vals.get("order_id") for vals in vals_list}
            self.env["pos.order"].browse(
                [order_id for order_id in order_ids if isinstance(order_id, int)]
            )._crmcom_refuse_basket_change()
        return super().create(vals_list)

    def write(self, vals):
        if not trust.in_checked_sync(self.env) and trust.touched(vals, BASKET_FIELDS):
            orders = self.order_id
            if isinstance(vals.get("order_id"), int):
                orders |= orders.browse(vals["order_id"])
            orders._crmcom_refuse_basket_change()
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_crmcom_basket(self):
        if not trust.in_checked_sync(self.env):
            self.order_id._crmcom_refuse_basket_change()

    def _crmcom_prepare_purchase_line(self):
        """What this line tells CRM.COM, as (product, quantity, amount without tax,
        amount with tax) in the order's currency, after line discounts: the items
        the customer keeps, refunded quantities left out. A value hook: extend it to
        send other amounts or another product (``pos.order._crmcom_prepare_purchase``
        turns the lines into ``products_set``)."""
        self.ensure_one()
        qty, share = self.qty, 1.0
        if self.qty > 0 and self.refunded_qty:
            qty = self.qty - self.refunded_qty
            share = qty / self.qty
        return (
            self.product_id,
            qty,
            self.price_subtotal * share,
            self.price_subtotal_incl * share,
        )
