from datetime import timedelta

from odoo import api, fields, models

from .plain_insert import insert_rows


class CrmcomTillPreview(models.Model):
    """The last CRM.COM preview made for an order being rung up at a till.

    Kept on the server so that a spend request is checked against what CRM.COM
    said (limits, amount available), never against what the browser says."""

    _name = "crmcom.till.preview"
    _description = "CRM.COM Preview at the Till"
    _order = "id desc"

    order_uuid = fields.Char(required=True, index=True)
    config_id = fields.Many2one("pos.config", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade")
    purchase_digest = fields.Char(
        help="The customer, unit and products_set previewed: a spend is checked against"
        " a preview of the saved order as it is, never of another basket."
    )
    total_amount = fields.Float(digits=(16, 2), required=True)
    reduction_method = fields.Char(required=True)
    award_amount = fields.Float(digits=(16, 2))
    instant_spend_amount = fields.Float(digits=(16, 2))
    automatic_spend_amount = fields.Float(digits=(16, 2))
    additional_spend_amount = fields.Float(digits=(16, 2))
    minimum_spend_amount = fields.Float(digits=(16, 2))
    maximum_spend_amount = fields.Float(digits=(16, 2))
    wallet_balance = fields.Float(digits=(16, 2))
    allow_spending = fields.Boolean()

    @api.model
    def _store(self, values):
        """Keep the preview of ``values`` (one plain INSERT: see plain_insert)."""
        return insert_rows(self, [values])

    @api.model
    def _latest(self, order_uuid, config, purchase_digest, max_age):
        """The newest fresh preview of this order at ``config`` for this purchase
        (``purchase_digest``; None: whatever the purchase previewed)."""
        domain = [
            ("order_uuid", "=", order_uuid),
            ("config_id", "=", config.id),
            ("create_date", ">=", fields.Datetime.now() - max_age),
        ]
        if purchase_digest is not None:
            domain.append(("purchase_digest", "=", purchase_digest))
        # Found and read in one query (a spend reads every limit of it).
        return self.search_fetch(domain, list(self._fields), limit=1)

    @api.model
    def _gc_old_previews(self):
        self.search([("create_date", "<", fields.Datetime.now() - timedelta(days=1))]).unlink()
