"""18.0.1.1.0, the trust model: every CRM.COM identity belongs to one company's
CRM.COM, and the redemption an order may deduct is recorded."""

from odoo import SUPERUSER_ID, api

from odoo.addons.pos_crmcom_rewards.models import trust


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {"active_test": False})
    # Identities linked before: to the partner's own company, else to the only
    # company with CRM.COM on, else to the main company (README, Trust model).
    enabled = env["res.company"].search([("crmcom_enabled", "=", True)])
    default = enabled if len(enabled) == 1 else env.ref("base.main_company")
    partners = env["res.partner"].search(
        [
            ("crmcom_company_id", "=", False),
            "|",
            "|",
            ("crmcom_participant_id", "!=", False),
            ("crmcom_account_number", "!=", False),
            ("crmcom_account_id", "!=", False),
        ]
    )
    for company, members in partners.grouped(lambda partner: partner.company_id or default).items():
        members.write({"crmcom_company_id": company.id})
    # Orders paid before were handled for CRM.COM when they were paid.
    cr.execute(
        "UPDATE pos_order SET crmcom_paid_checked = TRUE"
        " WHERE state IN ('paid', 'done', 'invoiced')"
    )
    # Orders redeemed before: what they deducted was confirmed at the till then.
    orders = trust.in_flow(env["pos.order"]).search([("crmcom_state", "!=", "none")])
    for order in orders:
        allowed = max(order.crmcom_redemption_amount, order._crmcom_redemption_given())
        if allowed:
            order.crmcom_redemption_allowed = allowed
