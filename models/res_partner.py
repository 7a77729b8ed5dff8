import contextlib
import datetime

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, float_compare

from ..crmcom import CrmcomError, read_participant, rewards_participant_identifier
from ..flows.errors import CrmcomOrderError, RewardsError, TillInputError
from ..flows.messages import describe_error, notification
from . import trust

IDENTIFIER_KINDS = ("access_token", "number", "id")
MAX_IDENTIFIER_LENGTH = 200
# An access token's "last used" is kept to the hour (not rewritten at every scan).
TOKEN_USE_PRECISION = datetime.timedelta(hours=1)
# So is the time the wallet balance was read, while the balance stays the same: an
# identification writes no partner row then (none to wait for when two tills
# identify the same customer at once).
WALLET_READ_PRECISION = datetime.timedelta(hours=1)

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
# What an identification reads of the customer it finds.
PARTNER_LINK_READ = [
    "crmcom_company_id",
    *LINK_FIELDS,
    "crmcom_wallet_balance",
    "crmcom_wallet_read_at",
]


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
        string="Wallet Balance Read On",
        copy=False,
        readonly=True,
        help="When CRM.COM last gave this balance, to the hour while it stays the same.",
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

    def _crmcom_customer_identifier(self, company):
        """``accounts_receivable_identifier`` of this customer of ``company``'s CRM.COM
        (its account number, else its account id). A value hook."""
        self.ensure_one()
        linked = self.crmcom_account_number or self.crmcom_account_id
        if linked and not self._crmcom_linked_to(company):
            raise CrmcomOrderError(
                _(
                    "The customer %(name)s is a member of another company's CRM.COM.",
                    name=self.display_name,
                )
            )
        if self.crmcom_account_number:
            return {"number": self.crmcom_account_number}
        if self.crmcom_account_id:
            return {"id": self.crmcom_account_id}
        raise CrmcomOrderError(
            _("The customer %(name)s is not linked to CRM.COM.", name=self.display_name)
        )

    @api.model
    def _crmcom_participant_identifier(self, kind, value):
        """The ``rewards_participant_identifier`` for what the cashier scanned or typed;
        TillInputError with plain words when it cannot be one."""
        if kind not in IDENTIFIER_KINDS:
            raise TillInputError(_("Unknown kind of customer identifier: %(kind)s", kind=kind))
        if not isinstance(value, str) or not value.strip():
            raise TillInputError(_("Scan or type the customer's card, phone, e-mail or number."))
        value = value.strip()
        if len(value) > MAX_IDENTIFIER_LENGTH or any(ord(char) < 32 for char in value):
            raise TillInputError(_("This is not a customer identifier."))
        try:
            return rewards_participant_identifier(**{kind: value})
        except ValueError:
            raise TillInputError(_("This is not a customer identifier.")) from None

    @api.model
    def _crmcom_link_participant(self, participant, company, *, token=None):
        """The Odoo customer of a participant of ``company``'s CRM.COM: found by
        participant id, then by access token, then by participant number, among the
        customers of that CRM.COM visible to ``company``; else created. Never two
        customers for one participant, even when two tills identify at once."""
        if not participant.id:
            raise CrmcomOrderError(_("CRM.COM sent a customer without an id."))
        partners = self.browse().sudo().with_context(active_test=False, tracking_disable=True)
        members = [
            ("crmcom_company_id", "=", company.id),
            ("company_id", "in", [company.id, False]),
        ]
        by_id = [("crmcom_participant_id", "=", participant.id), *members]
        # Found with what is compared below, in one query.
        partner = partners.search_fetch(by_id, PARTNER_LINK_READ, limit=1)
        if not partner:
            # Serialises concurrent linking of the same participant until commit
            # (only needed when the customer may be linked or created here).
            self.env.cr.execute(
                SQL(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    f"crmcom:{company.id}:{participant.id}",
                )
            )
            partner = partners.search_fetch(by_id, PARTNER_LINK_READ, limit=1)
        if not partner and token:
            partner = (
                self.env["crmcom.access.token"]
                .sudo()
                .search([("code", "=", token), ("company_id", "in", [company.id, False])], limit=1)
                .partner_id.filtered_domain(
                    [
                        ("crmcom_company_id", "in", [company.id, False]),
                        ("company_id", "in", [company.id, False]),
                    ]
                )
            )
            if partner.crmcom_participant_id and partner.crmcom_participant_id != participant.id:
                partner = partners  # the token moved to another participant
        if not partner and participant.number:
            partner = partners.search(
                [
                    ("crmcom_participant_number", "=", participant.number),
                    ("crmcom_participant_id", "=", False),
                    *members,
                ],
                limit=1,
            )
        identity = {
            "crmcom_company_id": company.id,
            "crmcom_participant_id": participant.id,
            "crmcom_participant_number": participant.number or False,
            "crmcom_account_id": participant.account_id or False,
            "crmcom_account_number": participant.account_number or False,
        }
        wallet = {
            "crmcom_wallet_balance": float(participant.wallet_balance or 0),
            "crmcom_wallet_read_at": fields.Datetime.now(),
        }
        if not partner:
            partner = partners.create(
                {"name": participant.name or participant.number, **identity, **wallet}
            )
        else:
            changed = {
                name: value
                for name, value in identity.items()
                if (partner[name].id if name == "crmcom_company_id" else partner[name]) != value
            }
            if changed:
                partner.write(changed)
            partner._crmcom_write_wallet(wallet)
        if token:
            partner._crmcom_remember_token(token)
        return partner.sudo(False)

    def _crmcom_write_wallet(self, wallet):
        # Unchanged (same balance, read within the hour): nothing to write.
        read_at = self.crmcom_wallet_read_at
        if (
            read_at
            and float_compare(
                self.crmcom_wallet_balance, wallet["crmcom_wallet_balance"], precision_digits=2
            )
            == 0
            and wallet["crmcom_wallet_read_at"] - read_at < WALLET_READ_PRECISION
        ):
            return
        # A plain UPDATE, as a partner's write costs the cashier 10 ms or more
        # (nothing depends on the snapshot). Another till storing this wallet at the
        # same moment wins: this one neither waits for its lock nor fails on its
        # commit (a serialization error would make Odoo run the request again). NO
        # KEY: a FOR UPDATE lock marks the row's key changed, and every transaction
        # begun before it that names the customer (a call log, an order) then fails.
        self.flush_model(list(wallet))
        with (
            contextlib.suppress(pg_errors.SerializationFailure),
            self.env.cr.savepoint(flush=False),
        ):
            self.env.cr.execute(
                SQL(
                    "UPDATE res_partner SET crmcom_wallet_balance = %s,"
                    " crmcom_wallet_read_at = %s WHERE id IN"
                    " (SELECT id FROM res_partner WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED)",
                    wallet["crmcom_wallet_balance"],
                    wallet["crmcom_wallet_read_at"],
                    self.id,
                ),
                log_exceptions=False,
            )
        self.invalidate_recordset(list(wallet))

    def _crmcom_remember_token(self, code):
        """This customer is known by the access token ``code`` from now on."""
        tokens = self.env["crmcom.access.token"].sudo()
        known = tokens.search_fetch(
            [("code", "=", code), ("company_id", "=", self.crmcom_company_id.id)],
            ["partner_id", "last_used"],
            limit=1,
        )
        now = fields.Datetime.now()
        if not known:
            tokens.create({"code": code, "partner_id": self.id})
        elif (
            known.partner_id != self
            or not known.last_used
            or known.last_used < now - TOKEN_USE_PRECISION
        ):
            known.write({"partner_id": self.id, "last_used": now})

    def action_crmcom_lookup(self):
        """Read the linked participant again (by stored id, else number) from the
        CRM.COM it is a member of, and update the wallet balance; a notification says
        how it went."""
        self.ensure_one()
        if not self.env.user.has_group("point_of_sale.group_pos_user"):
            raise AccessError(_("Only Point of Sale users can look customers up in CRM.COM."))
        self.check_access("write")
        partner = trust.in_flow(self)
        kind, value = (
            ("id", partner.crmcom_participant_id)
            if partner.crmcom_participant_id
            else ("number", partner.crmcom_participant_number)
        )
        if not value:
            raise UserError(_("This customer is not linked to CRM.COM."))
        company = partner.crmcom_company_id or self.env.company
        if company not in self.env.user.company_ids:
            raise AccessError(_("This customer is a member of another company's CRM.COM."))
        try:
            client = company._crmcom_client(partner=partner)
            identifier = partner._crmcom_participant_identifier(kind, value)
            participant = read_participant(client.show_rewards_participant(identifier))
            if participant.id and partner.crmcom_participant_id not in (False, participant.id):
                raise CrmcomOrderError(_("CRM.COM answered with another customer."))
            partner._crmcom_link_participant(participant, company)
        except (CrmcomError, RewardsError) as error:
            return notification(
                _("CRM.COM look-up failed"), describe_error(self.env, error), "danger"
            )
        return notification(
            _("CRM.COM customer updated"),
            _(
                "%(name)s: wallet balance %(balance)s.",
                name=participant.name,
                balance=participant.wallet_balance,
            ),
            "success",
        )


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
