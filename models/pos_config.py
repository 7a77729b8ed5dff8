from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..flows import till
from . import trust


class PosConfig(models.Model):
    _inherit = "pos.config"

    crmcom_enabled = fields.Boolean(
        string="CRM.COM Rewards at this till",
        help="Identify customers, preview and redeem CRM.COM rewards at this point of sale.",
    )
    crmcom_unit_key = fields.Selection(
        [("id", "Id"), ("name", "Name"), ("alternative_code", "Alternative code")],
        string="CRM.COM Unit Identified By",
        default="alternative_code",
        required=True,
    )
    crmcom_unit_value = fields.Char(
        string="CRM.COM Unit",
        help="The CRM.COM unit / participating merchant of this till, sent as"
        " performed_by_unit_identifier.",
    )
    crmcom_external_system = fields.Char(
        string="CRM.COM POS Identifier",
        help="Sent as external_system; the company's value is used when empty.",
    )

    crmcom_redemption_product_id = fields.Many2one(
        "product.product",
        string="CRM.COM Redemption Product",
        compute="_compute_crmcom_redemption_product_id",
        help="The product of the discount line of a CRM.COM redemption (the company's).",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._crmcom_check_settings_access(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._crmcom_check_settings_access(vals)
        return super().write(vals)

    @api.model
    def _crmcom_check_settings_access(self, vals):
        """A till's CRM.COM settings decide where its customers' purchases go (the
        unit) and whether they go at all: Point of Sale managers only."""
        fields_touched = trust.touched(vals, lambda name: name.startswith("crmcom_"))
        if fields_touched and not trust.is_manager(self.env):
            raise AccessError(
                _(
                    "Only Point of Sale managers can change the CRM.COM settings of a"
                    " point of sale (%(fields)s).",
                    fields=", ".join(fields_touched),
                )
            )

    @api.depends("company_id.crmcom_redemption_product_id")
    def _compute_crmcom_redemption_product_id(self):
        for config in self:
            config.crmcom_redemption_product_id = config.company_id._crmcom_redemption_product()

    def _get_special_products(self):
        # Loaded into every till (refunds and reprints show the discount line), never
        # listed as a product to sell: only the till adds it, for what CRM.COM spent.
        default = self.env.ref(
            "pos_crmcom_rewards.product_crmcom_redemption", raise_if_not_found=False
        )
        companies = self.env["res.company"].sudo().search([])
        return (
            super()._get_special_products()
            | companies.crmcom_redemption_product_id
            | (default or self.env["product.product"])
        )

    @api.constrains("crmcom_enabled", "crmcom_unit_value")
    def _check_crmcom_unit(self):
        for config in self:
            if config.crmcom_enabled and not (config.crmcom_unit_value or "").strip():
                raise ValidationError(
                    _("Name the CRM.COM unit of the point of sale %(pos)s.", pos=config.name)
                )

    # ------------------------------------------------------------ till calls
    # The till calls these on its own pos.config record (``[[config.id], ...]``), as
    # pos_loyalty does; each answers ``{"ok": False, "reason", "message"}`` rather
    # than raising, so that the sale always goes on. Each logs its CRM.COM calls in
    # one insert.

    def crmcom_identify_customer(self, kind, value):
        """Identify the customer by access token, number or id (guide step 1)."""
        with self.env["crmcom.call.log"]._one_insert():
            return till.identify(self, kind, value)

    def crmcom_preview_order(self, order_data):
        """The rewards panel: what CRM.COM would award and let the customer spend."""
        with self.env["crmcom.call.log"]._one_insert():
            return till.preview(self, order_data)

    def crmcom_spend_rewards(self, order_uuid, amount):
        """Spend ``amount`` of the wallet on the till's saved draft ``order_uuid``."""
        with self.env["crmcom.call.log"]._one_insert():
            return till.spend(self, order_uuid, amount)

    def crmcom_cancel_redemption(self, order_uuid):
        """Cancel the redemption of the till's saved draft ``order_uuid``."""
        with self.env["crmcom.call.log"]._one_insert():
            return till.cancel_redemption(self, order_uuid)

    def _crmcom_active(self):
        """CRM.COM Rewards is on for this till (and for its company)."""
        self.ensure_one()
        return self.crmcom_enabled and self.company_id._crmcom_settings().crmcom_enabled

    def _crmcom_unit_identifier(self):
        self.ensure_one()
        return {self.crmcom_unit_key: self.crmcom_unit_value.strip()}

    def _crmcom_external_system(self):
        self.ensure_one()
        return self.crmcom_external_system or self.company_id.crmcom_external_system or False
