from urllib.parse import urlsplit

from odoo import _, api, fields, models, tools
from odoo.exceptions import AccessError, ValidationError

from ..crmcom import POOL_SIZE as MAX_PARALLEL_REQUESTS
from ..crmcom import CrmcomClient, CrmcomConfigurationError, CrmcomError, normalise_base_url
from ..crmcom.tokens import jwt_claims
from ..flows.messages import describe_error, notification
from .crmcom_session_token import DatabaseTokenStore

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Secrets: readable and writable by administrators only (invariant "secrets stay home").
SECRET_GROUP = "base.group_system"
# What a client is built from: read once per process (see _crmcom_settings).
CLIENT_SETTINGS = (
    "crmcom_enabled",
    "crmcom_base_url",
    "crmcom_auth_method",
    "crmcom_web_api_key",
    "crmcom_username",
    "crmcom_password",
    "crmcom_organisation",
    "crmcom_connect_timeout",
    "crmcom_read_timeout",
)


class ResCompany(models.Model):
    _inherit = "res.company"

    crmcom_enabled = fields.Boolean(string="CRM.COM Rewards")
    crmcom_base_url = fields.Char(
        string="CRM.COM Server",
        help="Address of the CRM.COM server, e.g. https://mycompany.crm.com",
    )
    crmcom_auth_method = fields.Selection(
        [("web_api_key", "Web API key"), ("password", "Username and password")],
        string="CRM.COM Authentication",
        default="web_api_key",
        required=True,
    )
    crmcom_web_api_key = fields.Char(string="CRM.COM Web API Key", groups=SECRET_GROUP, copy=False)
    crmcom_username = fields.Char(string="CRM.COM Username", groups=SECRET_GROUP, copy=False)
    crmcom_password = fields.Char(string="CRM.COM Password", groups=SECRET_GROUP, copy=False)
    crmcom_organisation = fields.Char(string="CRM.COM Organisation", groups=SECRET_GROUP)
    crmcom_external_system = fields.Char(
        string="CRM.COM External System",
        default="ODOO_POS",
        help="Sent as external_system with every purchase, unless the point of sale names its own.",
    )
    crmcom_connect_timeout = fields.Float(
        string="CRM.COM Connect Timeout (s)", default=5.0, required=True
    )
    crmcom_read_timeout = fields.Float(
        string="CRM.COM Read Timeout (s)", default=15.0, required=True
    )
    crmcom_redemption_product_id = fields.Many2one(
        "product.product",
        string="CRM.COM Redemption Product",
        help="Service product of the discount line that carries a CRM.COM redemption."
        " It is never sent to CRM.COM as a purchased product.",
    )
    crmcom_fallback_product_code = fields.Char(
        string="CRM.COM Fallback Product Code",
        help="Sent as the product code of products without one. Leave empty to hold such"
        " orders back with a clear reason instead.",
    )
    crmcom_max_attempts = fields.Integer(
        string="CRM.COM Attempts Before Failing",
        default=10,
        required=True,
        help="Automatic attempts to send an order (with growing delays) before it is"
        " marked failed for the back office.",
    )
    crmcom_log_retention_days = fields.Integer(
        string="CRM.COM Log Retention (days)", default=90, required=True
    )
    crmcom_parallel_requests = fields.Integer(
        string="CRM.COM Parallel Requests",
        default=8,
        required=True,
        help="Purchases an Odoo server process sends at once when it works through a"
        " backlog (after an outage, say). Lower it if CRM.COM limits the requests of"
        " your organisation.",
    )

    def write(self, vals):
        result = super().write(vals)
        if any(name in CLIENT_SETTINGS for name in vals):
            # Every process drops its copy (Odoo signals the others after commit,
            # and undoes a rolled-back write's copy).
            self.env.registry.clear_cache()
        return result

    @api.constrains("crmcom_base_url")
    def _check_crmcom_base_url(self):
        for company in self:
            if not company.crmcom_base_url:
                continue
            parts = urlsplit(company.crmcom_base_url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    _("The CRM.COM server address must look like https://server.example.com.")
                )
            if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
                raise ValidationError(
                    _(
                        "The CRM.COM server address must use https:// (plain http:// is only"
                        " allowed for a server on this machine)."
                    )
                )
            if parts.query or parts.fragment:
                raise ValidationError(_("The CRM.COM server address must not contain ? or #."))
            # Then as the HTTP library will connect: no user name or password in the
            # address, no backslash tricks (the host checked is the host reached).
            try:
                normalise_base_url(company.crmcom_base_url)
            except CrmcomConfigurationError:
                raise ValidationError(
                    _(
                        "The CRM.COM server address must be a plain https://server address:"
                        " no user name or password (@), spaces or backslashes."
                    )
                ) from None

    @api.constrains(
        "crmcom_connect_timeout",
        "crmcom_read_timeout",
        "crmcom_max_attempts",
        "crmcom_log_retention_days",
        "crmcom_parallel_requests",
    )
    def _check_crmcom_numbers(self):
        for company in self:
            if not (
                0 < company.crmcom_connect_timeout <= 120 and 0 < company.crmcom_read_timeout <= 300
            ):
                raise ValidationError(
                    _("CRM.COM timeouts must be between 0 and 120 s (connect) and 300 s (read).")
                )
            if company.crmcom_max_attempts < 1:
                raise ValidationError(_("Allow at least one attempt to send an order."))
            if company.crmcom_log_retention_days < 1:
                raise ValidationError(_("Keep the CRM.COM log for at least one day."))
            if not 1 <= company.crmcom_parallel_requests <= MAX_PARALLEL_REQUESTS:
                raise ValidationError(
                    _(
                        "CRM.COM parallel requests must be between 1 and %(maximum)s.",
                        maximum=MAX_PARALLEL_REQUESTS,
                    )
                )

    # ------------------------------------------------------------------ client

    def _crmcom_client(self, *, order=None, partner=None, calls=None):
        """A client for this company's CRM.COM settings whose calls are logged: at
        once, or appended to ``calls`` as ``(record, company, order, partner)`` for
        ``crmcom.call.log._record_calls`` (clients used outside this thread).

        Raises CrmcomConfigurationError when the settings are incomplete."""
        self.ensure_one()
        settings = self._crmcom_settings()
        if not settings.crmcom_enabled:
            raise CrmcomConfigurationError(
                _("CRM.COM Rewards is not enabled for %(company)s.", company=self.name)
            )
        if not settings.crmcom_base_url:
            raise CrmcomConfigurationError(_("the CRM.COM server address is not set."))
        if settings.crmcom_auth_method == "web_api_key":
            if not settings.crmcom_web_api_key:
                raise CrmcomConfigurationError(_("the CRM.COM Web API key is not set."))
            credentials = {"web_api_key": settings.crmcom_web_api_key}
        else:
            if not (
                settings.crmcom_username
                and settings.crmcom_password
                and settings.crmcom_organisation
            ):
                raise CrmcomConfigurationError(
                    _("the CRM.COM username, password and organisation are needed.")
                )
            credentials = {
                "username": settings.crmcom_username,
                "password": settings.crmcom_password,
                "organisation": settings.crmcom_organisation,
            }
        if calls is None:
            # Inside a till call: logged with the call's other CRM.COM calls, in one go.
            calls = self.env["crmcom.call.log"]._pending()
        if calls is None:
            log = self.env["crmcom.call.log"]

            def on_call(record):
                log._record_call(record, company=self, order=order, partner=partner)

        else:

            def on_call(record):
                calls.append((record, self, order, partner))

        return CrmcomClient(
            settings.crmcom_base_url,
            timeout=(settings.crmcom_connect_timeout, settings.crmcom_read_timeout),
            # One token for every process and server of this database.
            token_store=DatabaseTokenStore(self.env.registry),
            on_call=on_call,
            **credentials,
        )

    def _crmcom_settings(self):
        """This company's client settings (CLIENT_SETTINGS as attributes), read from
        the database once per process, not at every till call."""
        self.ensure_one()
        return _Settings(self._crmcom_settings_values())

    @tools.ormcache("self.id")
    def _crmcom_settings_values(self):
        company = self.sudo()
        return tuple(company[name] for name in CLIENT_SETTINGS)

    def _crmcom_test_connection(self):
        """Log in with this company's settings and say how it went, in plain words."""
        self.ensure_one()
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(_("Only administrators can test the CRM.COM connection."))
        try:
            client = self._crmcom_client()
            claims = jwt_claims(client.login())
        except CrmcomError as error:
            return notification(
                _("CRM.COM connection failed"), describe_error(self.env, error), "danger"
            )
        message = _("Logged in to %(server)s.", server=client.base_url)
        if isinstance(claims.get("org"), str):
            message += " " + _("Organisation: %(org)s.", org=claims["org"])
        if isinstance(claims.get("oun"), str):
            message += " " + _("Unit: %(unit)s.", unit=claims["oun"])
        return notification(_("Connected to CRM.COM"), message, "success")

    def _crmcom_redemption_product(self):
        """The product of this company's redemption lines (never sent to CRM.COM)."""
        self.ensure_one()
        if self.crmcom_redemption_product_id:
            return self.crmcom_redemption_product_id
        # The xmlid's id is cached (env.ref would query its existence every time).
        product_id = self.env["ir.model.data"]._xmlid_to_res_id(
            "pos_crmcom_rewards.product_crmcom_redemption", raise_if_not_found=False
        )
        return self.env["product.product"].browse(product_id)

    @api.model
    def _crmcom_parallel_requests(self):
        """Purchases sent at once by the sender: the largest setting of the companies
        with CRM.COM on."""
        companies = self.sudo().search([("crmcom_enabled", "=", True)])
        return max(companies.mapped("crmcom_parallel_requests") or [1])


class _Settings:
    """The cached settings of a company, read-only."""

    __slots__ = CLIENT_SETTINGS

    def __init__(self, values):
        for name, value in zip(CLIENT_SETTINGS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("CRM.COM settings are changed on the company")
