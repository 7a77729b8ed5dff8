from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from . import trust

# The partner's CRM.COM identity: who awards and spends go to. Set by the
# identification flows, or by Point of Sale managers (README, Trust model).
IDENTITY_FIELDS = frozenset(
    {
        "crmcom_company_id",
        "crmcom_participant_id",
        "crmcom_participant_number",
        "crmcom_account_id",
        "crmcom_account_number",
        "crmcom_wallet_balance",
        "crmcom_wallet_read_at",
        "crmcom_token_ids",
    }
)
LINK_FIELDS = (
    "crmcom_participant_id",
    "crmcom_participant_number",
    "crmcom_account_id",
    "crmcom_account_number",
)


class ResPartner(models.Model):
    _inherit = "res.partner"

    crmcom_company_id = fields.Many2one(
        "res.company",
        string="CRM.COM of",
        copy=False,
        index="btree_not_null",
        help="The company whose CRM.COM this customer is a member of: only its tills send"
        " this customer's purchases, to that CRM.COM.",
    )
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
    # Cards, phones and e-mails are personal data: Point of Sale managers only.
    crmcom_token_ids = fields.One2many(
        "crmcom.access.token",
        "partner_id",
        string="CRM.COM Access Tokens",
        copy=False,
        groups="point_of_sale.group_pos_manager",
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
            "unique(crmcom_company_id, crmcom_participant_id)",
            "This CRM.COM participant is already linked to another customer.",
        )
    ]

    crmcom_token_search = fields.Char(
        string="CRM.COM Access Token",
        compute="_compute_crmcom_token_search",
        search="_search_crmcom_token",
        groups="point_of_sale.group_pos_manager",
    )

    @api.model
    def _load_pos_data_fields(self, config_id):
        return super()._load_pos_data_fields(config_id) + [
            "crmcom_participant_number",
            "crmcom_wallet_balance",
        ]

    @api.model_create_multi
    def create(self, vals_list):
        partners = self
        if not trust.is_manager(self.env):
            for vals in vals_list:
                _refuse_identity(self.env, vals)
            partners = trust.without_defaults(self, IDENTITY_FIELDS)
        for vals in vals_list:
            self._crmcom_check_identity_company(vals)
        for vals in vals_list:
            if trust.touched(vals, LINK_FIELDS) and not vals.get("crmcom_company_id"):
                vals["crmcom_company_id"] = self.env.company.id
        return super(ResPartner, partners).create(vals_list)

    def write(self, vals):
        if not trust.is_manager(self.env):
            _refuse_identity(self.env, vals)
        self._crmcom_check_identity_company(vals)
        result = super().write(vals)
        if trust.touched(vals, LINK_FIELDS) and not vals.get("crmcom_company_id"):
            # A link typed by a manager is to the CRM.COM of the company they work in.
            unowned = self.filtered(lambda partner: not partner.crmcom_company_id)
            if unowned:
                super(ResPartner, unowned).write({"crmcom_company_id": self.env.company.id})
        return result

    def _crmcom_check_identity_company(self, vals):
        """A POS manager corrects identities of their own companies' CRM.COM only."""
        env = self.env
        if env.su or trust.is_flow(env) or not trust.touched(vals, IDENTITY_FIELDS):
            return
        allowed = env.user.company_ids
        target = vals.get("crmcom_company_id")
        foreign = self.filtered(
            lambda partner: partner.crmcom_company_id and partner.crmcom_company_id not in allowed
        )
        if foreign or (target and target not in allowed.ids):
            raise AccessError(
                env._(
                    "This customer's CRM.COM identity belongs to another company's CRM.COM:"
                    " a Point of Sale manager of that company can change it."
                )
            )

    def _search_crmcom_token(self, operator, value):
        return [("crmcom_token_ids.code", operator, value)]

    def _compute_crmcom_token_search(self):
        for partner in self:
            partner.crmcom_token_search = ", ".join(partner.crmcom_token_ids.mapped("code"))

    def _crmcom_linked_to(self, company):
        """This customer is a member of ``company``'s CRM.COM (awards go there)."""
        return bool(
            self
            and self.crmcom_company_id == company
            and (self.crmcom_account_number or self.crmcom_account_id)
        )

    def action_crmcom_lookup(self):
        """Read the linked participant again from CRM.COM (name, wallet)."""
        self.ensure_one()
        if not self.env.user.has_group("point_of_sale.group_pos_user"):
            raise AccessError(_("Only Point of Sale users can look customers up in CRM.COM."))
        return self.env["crmcom.rewards"]._refresh_partner(self)


def _refuse_identity(env, vals):
    fields_touched = trust.touched(vals, IDENTITY_FIELDS)
    if fields_touched:
        raise AccessError(
            env._(
                "A customer's CRM.COM identity is set by identifying the customer at the"
                " till, or by a Point of Sale manager (%(fields)s).",
                fields=", ".join(fields_touched),
            )
        )
