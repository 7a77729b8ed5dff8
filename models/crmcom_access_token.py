from odoo import fields, models


class CrmcomAccessToken(models.Model):
    """A CRM.COM access token (card, phone, e-mail, app code) known to identify a
    customer: the till finds the Odoo customer by it without asking CRM.COM twice.

    Personal data: readable by Point of Sale managers only (the flows read it as
    the server), within their companies."""

    _name = "crmcom.access.token"
    _description = "CRM.COM Access Token"
    _rec_name = "code"
    _order = "last_used desc, id desc"

    code = fields.Char(required=True, index=True)
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(
        related="partner_id.crmcom_company_id",
        store=True,
        index=True,
        string="CRM.COM of",
    )
    last_used = fields.Datetime(
        default=fields.Datetime.now,
        help="When a till last identified the customer by it (to the hour).",
    )

    _sql_constraints = [
        (
            "code_uniq",
            "unique(company_id, code)",
            "A CRM.COM access token identifies one customer only.",
        )
    ]
