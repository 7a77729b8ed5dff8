from odoo import api, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    crmcom_participant_id = fields.Char(
        string="CRM.COM Participant Id", copy=False, index="btree_not_null"
    )
    crmcom_participant_number = fields.Char(
        string="CRM.COM Participant Number", copy=False, index="btree_not_null"
    )
    crmcom_account_id = fields.Char(string="CRM.COM Account Id", copy=False)
    crmcom_account_number = fields.Char(
        string="CRM.COM Account Number", copy=False, index="btree_not_null"
    )
    crmcom_token_ids = fields.One2many(
        "crmcom.access.token", "partner_id", string="CRM.COM Access Tokens", copy=False
    )
    crmcom_wallet_balance = fields.Float(
        string="CRM.COM Wallet Balance", digits=(16, 2), copy=False, readonly=True
    )
    crmcom_wallet_read_at = fields.Datetime(
        string="Wallet Balance Read On", copy=False, readonly=True
    )

    _sql_constraints = [
        (
            "crmcom_participant_id_uniq",
            "unique(crmcom_participant_id)",
            "This CRM.COM participant is already linked to another customer.",
        )
    ]

    crmcom_token_search = fields.Char(
        string="CRM.COM Access Token",
        compute="_compute_crmcom_token_search",
        search="_search_crmcom_token",
    )

    @api.model
    def _load_pos_data_fields(self, config_id):
        return super()._load_pos_data_fields(config_id) + [
            "crmcom_participant_number",
            "crmcom_wallet_balance",
        ]

    def _search_crmcom_token(self, operator, value):
        return [("crmcom_token_ids.code", operator, value)]

    def _compute_crmcom_token_search(self):
        for partner in self:
            partner.crmcom_token_search = ", ".join(partner.crmcom_token_ids.mapped("code"))

    def action_crmcom_lookup(self):
        """Read the linked participant again from CRM.COM (name, wallet)."""
        self.ensure_one()
        return self.env["crmcom.rewards"]._refresh_partner(self)
