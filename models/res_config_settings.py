from odoo import fields, models

from .res_company import SECRET_GROUP


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    crmcom_enabled = fields.Boolean(related="company_id.crmcom_enabled", readonly=False)
    crmcom_base_url = fields.Char(related="company_id.crmcom_base_url", readonly=False)
    crmcom_auth_method = fields.Selection(related="company_id.crmcom_auth_method", readonly=False)
    crmcom_web_api_key = fields.Char(
        related="company_id.crmcom_web_api_key", readonly=False, groups=SECRET_GROUP
    )
    crmcom_username = fields.Char(
        related="company_id.crmcom_username", readonly=False, groups=SECRET_GROUP
    )
    crmcom_password = fields.Char(
        related="company_id.crmcom_password", readonly=False, groups=SECRET_GROUP
    )
    crmcom_organisation = fields.Char(
        related="company_id.crmcom_organisation", readonly=False, groups=SECRET_GROUP
    )
    crmcom_external_system = fields.Char(
        related="company_id.crmcom_external_system", readonly=False
    )
    crmcom_connect_timeout = fields.Float(
        related="company_id.crmcom_connect_timeout", readonly=False
    )
    crmcom_read_timeout = fields.Float(related="company_id.crmcom_read_timeout", readonly=False)
    crmcom_redemption_product_id = fields.Many2one(
        related="company_id.crmcom_redemption_product_id", readonly=False
    )
    crmcom_fallback_product_code = fields.Char(
        related="company_id.crmcom_fallback_product_code", readonly=False
    )
    crmcom_max_attempts = fields.Integer(related="company_id.crmcom_max_attempts", readonly=False)
    crmcom_log_retention_days = fields.Integer(
        related="company_id.crmcom_log_retention_days", readonly=False
    )
    crmcom_parallel_requests = fields.Integer(
        related="company_id.crmcom_parallel_requests", readonly=False
    )
    pos_crmcom_enabled = fields.Boolean(related="pos_config_id.crmcom_enabled", readonly=False)
    pos_crmcom_unit_key = fields.Selection(related="pos_config_id.crmcom_unit_key", readonly=False)
    pos_crmcom_unit_value = fields.Char(related="pos_config_id.crmcom_unit_value", readonly=False)
    pos_crmcom_external_system = fields.Char(
        related="pos_config_id.crmcom_external_system", readonly=False
    )

    def action_crmcom_test_connection(self):
        self.ensure_one()
        return self.company_id._crmcom_test_connection()
