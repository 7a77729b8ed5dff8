"""The rewards flows: the one place where Odoo talks to CRM.COM.

It builds the client from the company settings (every call logged), turns Odoo
records into CRM.COM payloads and CRM.COM answers into Odoo records and plain words.
Models, controllers and the till call it; no CRM.COM error ever reaches a cashier
as a traceback.
"""

import datetime
import logging
from decimal import ROUND_HALF_UP, Decimal

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..crmcom import (
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomClient,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomError,
    CrmcomProtocolError,
    CrmcomTimeoutError,
    Purchase,
    PurchaseLine,
    product_identifier,
    read_participant,
    read_purchase,
    rewards_participant_identifier,
)
from ..crmcom.tokens import jwt_claims

_logger = logging.getLogger(__name__)

IDENTIFIER_KINDS = ("access_token", "number", "id")
# Refusals that mean "no such customer" (CRM.COM documents no codes; these are the
# usual spellings).
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "INVALID_IDENTIFIER", "NO_RECORD_FOUND"})
MAX_IDENTIFIER_LENGTH = 200
# A lost answer is looked up among the purchases submitted since a little before the
# first attempt (clocks of Odoo and CRM.COM may differ).
LOOKUP_MARGIN = datetime.timedelta(hours=1)
RETRY_DELAY_BASE = datetime.timedelta(minutes=1)
RETRY_DELAY_CAP = datetime.timedelta(hours=1)


class CrmcomOrderError(Exception):
    """An order cannot be turned into a CRM.COM purchase (a reason for the back office)."""


class CrmcomRewards(models.AbstractModel):
    _name = "crmcom.rewards"
    _description = "CRM.COM Rewards flows"

    # ------------------------------------------------------------------ client

    @api.model
    def _client(self, company, *, order=None, partner=None):
        """A client for ``company``'s CRM.COM settings whose calls are logged.

        Raises CrmcomConfigurationError when the settings are incomplete."""
        settings = company.sudo()
        if not settings.crmcom_enabled:
            raise CrmcomConfigurationError(
                _("CRM.COM Rewards is not enabled for %(company)s.", company=company.name)
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
        log = self.env["crmcom.call.log"]
        return CrmcomClient(
            settings.crmcom_base_url,
            timeout=(settings.crmcom_connect_timeout, settings.crmcom_read_timeout),
            on_call=lambda record: log._record_call(
                record, company=company, order=order, partner=partner
            ),
            **credentials,
        )

    @api.model
    def _describe_error(self, error):
        """Plain words for a CRM.COM failure (invariant "clear words")."""
        if isinstance(error, CrmcomConfigurationError):
            return _("CRM.COM is not configured: %(reason)s", reason=error)
        if isinstance(error, CrmcomAuthenticationError):
            return _(
                "CRM.COM refused the credentials: check the Web API key, or the"
                " username, password and organisation (%(code)s).",
                code=error.code,
            )
        if isinstance(error, CrmcomTimeoutError):
            return _("CRM.COM did not answer in time.")
        if isinstance(error, CrmcomConnectionError):
            if error.maybe_applied:
                return _("The connection to CRM.COM broke before it answered.")
            return _("CRM.COM cannot be reached: check the server address and the network.")
        if isinstance(error, CrmcomProtocolError):
            return _(
                "The server did not answer like a CRM.COM server: check the server address."
            )
        if isinstance(error, CrmcomApiError):
            return _(
                "CRM.COM refused the request: %(message)s",
                message=error.api_message or error.description or error.code,
            )
        return str(error)

    # -------------------------------------------------------- connection test

    @api.model
    def _test_connection(self, company):
        """Log in with ``company``'s settings and say how it went, in plain words."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(_("Only administrators can test the CRM.COM connection."))
        try:
            client = self._client(company)
            claims = jwt_claims(client.login())
        except CrmcomError as error:
            return _notification(
                _("CRM.COM connection failed"), self._describe_error(error), "danger"
            )
        message = _("Logged in to %(server)s.", server=client.base_url)
        if isinstance(claims.get("org"), str):
            message += " " + _("Organisation: %(org)s.", org=claims["org"])
        if isinstance(claims.get("oun"), str):
            message += " " + _("Unit: %(unit)s.", unit=claims["oun"])
        return _notification(_("Connected to CRM.COM"), message, "success")

    # -------------------------------------------------------------- customers

    @api.model
    def _participant_identifier(self, kind, value):
        """The ``rewards_participant_identifier`` for what the cashier scanned or
        typed; ValueError with plain words when it cannot be one."""
        if kind not in IDENTIFIER_KINDS:
            raise ValueError(_("Unknown kind of customer identifier: %(kind)s", kind=kind))
        if not isinstance(value, str) or not value.strip():
            raise ValueError(_("Scan or type the customer's card, phone, e-mail or number."))
        value = value.strip()
        if len(value) > MAX_IDENTIFIER_LENGTH or any(ord(char) < 32 for char in value):
            raise ValueError(_("This is not a customer identifier."))
        return rewards_participant_identifier(**{kind: value})

    @api.model
    def _link_partner(self, participant, *, token=None):
        """The Odoo customer of a CRM.COM participant: found by participant id, then
        by access token, then by participant number, else created. Never two
        customers for one participant, even when two tills identify at once."""
        if not participant.id:
            raise CrmcomOrderError(_("CRM.COM sent a customer without an id."))
        # Serialises concurrent linking of the same participant until commit.
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crmcom:{participant.id}",)
        )
        partners = self.env["res.partner"].sudo().with_context(active_test=False)
        partner = partners.search([("crmcom_participant_id", "=", participant.id)], limit=1)
        if not partner and token:
            partner = self.env["crmcom.access.token"].sudo().search(
                [("code", "=", token)], limit=1
            ).partner_id
            if partner.crmcom_participant_id and partner.crmcom_participant_id != participant.id:
                partner = partners  # the token moved to another participant
        if not partner and participant.number:
            partner = partners.search(
                [
                    ("crmcom_participant_number", "=", participant.number),
                    ("crmcom_participant_id", "=", False),
                ],
                limit=1,
            )
        values = {
            "crmcom_participant_id": participant.id,
            "crmcom_participant_number": participant.number,
            "crmcom_account_id": participant.account_id,
            "crmcom_account_number": participant.account_number,
            "crmcom_wallet_balance": float(participant.wallet_balance or 0),
            "crmcom_wallet_read_at": fields.Datetime.now(),
        }
        if partner:
            partner.write(values)
        else:
            partner = partners.create(
                {"name": participant.name or participant.number, **values}
            )
        if token:
            self._remember_token(partner, token)
        return partner.sudo(False)

    @api.model
    def _remember_token(self, partner, code):
        tokens = self.env["crmcom.access.token"].sudo()
        known = tokens.search([("code", "=", code)], limit=1)
        if known:
            known.write({"partner_id": partner.id, "last_used": fields.Datetime.now()})
        else:
            tokens.create({"code": code, "partner_id": partner.id})

    @api.model
    def identify_customer(self, config_id, kind, value):
        """The till's "identify" (guide step 1): find the participant in CRM.COM by
        access token, number or id, link it to an Odoo customer and return what the
        cashier sees. Never raises for CRM.COM trouble: ``{"ok": False, "reason",
        "message"}`` tells the cashier what happened and that the sale can go on."""
        config = self._till(config_id)
        try:
            identifier = self._participant_identifier(kind, value)
        except ValueError as error:
            return {"ok": False, "reason": "invalid", "message": str(error)}
        try:
            client = self._client(config.company_id)
            participant = read_participant(client.show_rewards_participant(identifier))
        except CrmcomApiError as error:
            if error.code.upper() in NOT_FOUND_CODES:
                return {
                    "ok": False,
                    "reason": "not_found",
                    "message": _("No CRM.COM customer has this identifier."),
                }
            return self._till_failure(error)
        except (CrmcomError, ValueError) as error:
            return self._till_failure(error)
        if not participant.is_effective:
            return {
                "ok": False,
                "reason": "terminated",
                "message": _(
                    "The CRM.COM membership of %(name)s is not active: no rewards on"
                    " this sale.",
                    name=participant.name,
                ),
            }
        try:
            partner = self._link_partner(
                participant, token=value.strip() if kind == "access_token" else None
            )
        except CrmcomOrderError as error:
            return {"ok": False, "reason": "invalid_answer", "message": str(error)}
        return {
            "ok": True,
            "partner_id": partner.id,
            "name": participant.name,
            "participant_number": participant.number,
            "wallet_balance": float(participant.wallet_balance or 0),
            "currency": participant.currency,
            "spending_blocked": participant.spending_blocked,
        }

    @api.model
    def _till(self, config_id):
        """The till of a POS call, checked: readable by the user and rewards on."""
        if not isinstance(config_id, int) or isinstance(config_id, bool):
            raise UserError(_("Unknown point of sale."))
        config = self.env["pos.config"].browse(config_id).exists()
        if not config:
            raise UserError(_("Unknown point of sale."))
        config.check_access("read")
        if not config._crmcom_active():
            raise UserError(_("CRM.COM Rewards is off for this point of sale."))
        return config

    @api.model
    def _till_failure(self, error):
        """What the cashier reads when CRM.COM cannot help now: the sale goes on."""
        reason = "not_configured" if isinstance(error, CrmcomConfigurationError) else "unavailable"
        if isinstance(error, CrmcomTimeoutError):
            reason = "timeout"
        return {
            "ok": False,
            "reason": reason,
            "message": _(
                "%(problem)s You can finish the sale without rewards.",
                problem=self._describe_error(error),
            ),
        }

    @api.model
    def _refresh_partner(self, partner):
        """Read ``partner``'s participant again (by stored id, else number) and update
        the wallet balance; a notification says how it went."""
        partner.check_access("write")
        kind, value = (
            ("id", partner.crmcom_participant_id)
            if partner.crmcom_participant_id
            else ("number", partner.crmcom_participant_number)
        )
        if not value:
            raise UserError(_("This customer is not linked to CRM.COM."))
        company = self.env.company
        try:
            client = self._client(company, partner=partner)
            data = client.show_rewards_participant(self._participant_identifier(kind, value))
            participant = read_participant(data)
            if participant.id and partner.crmcom_participant_id not in (False, participant.id):
                raise CrmcomOrderError(_("CRM.COM answered with another customer."))
            self._link_partner(participant)
        except (CrmcomError, CrmcomOrderError, ValueError) as error:
            return _notification(
                _("CRM.COM look-up failed"), self._describe_error(error), "danger"
            )
        return _notification(
            _("CRM.COM customer updated"),
            _(
                "%(name)s: wallet balance %(balance)s.",
                name=participant.name,
                balance=participant.wallet_balance,
            ),
            "success",
        )

    # ------------------------------------------------------------ purchases

    @api.model
    def _order_customer(self, order):
        partner = order.partner_id
        if partner.crmcom_account_number:
            return {"number": partner.crmcom_account_number}
        if partner.crmcom_account_id:
            return {"id": partner.crmcom_account_id}
        raise CrmcomOrderError(
            _("The customer %(name)s is not linked to CRM.COM.", name=partner.display_name)
        )

    @api.model
    def _order_lines(self, order):
        """``products_set`` of ``order``: amounts after line discounts, in company
        currency, rounded like Odoo; the redemption line left out; negative lines
        (order-wide discounts) spread over the other lines in proportion."""
        company = order.company_id
        currency = company.currency_id
        redemption = self._redemption_product(company)
        fallback = (company.crmcom_fallback_product_code or "").strip()
        sold, deductions = [], Decimal(0)
        for line in order.lines.filtered(lambda line: line.product_id != redemption):
            net = self._company_amount(order, line.price_subtotal)
            total = self._company_amount(order, line.price_subtotal_incl)
            if line.qty <= 0 or total <= 0:
                deductions += total
                continue
            code = line.product_id._crmcom_code() or fallback
            if not code:
                raise CrmcomOrderError(
                    _(
                        "The product %(product)s has no CRM.COM product code (nor"
                        " internal reference) and no fallback code is set.",
                        product=line.product_id.display_name,
                    )
                )
            sold.append([code, Decimal(str(line.qty)), net, total])
        gross = sum((item[3] for item in sold), Decimal(0))
        if not sold or gross + deductions <= 0:
            raise CrmcomOrderError(_("The order has nothing to send to CRM.COM."))
        if deductions:
            _spread(sold, (gross + deductions) / gross, currency)
        return [
            PurchaseLine(product_identifier(code=code), net, total - net, total, quantity=qty)
            for code, qty, net, total in sold
        ]

    @api.model
    def _company_amount(self, order, amount):
        company = order.company_id
        if order.currency_id and order.currency_id != company.currency_id:
            amount = order.currency_id._convert(
                amount, company.currency_id, company, order.date_order or fields.Date.today()
            )
        return _decimal(company.currency_id.round(amount), company.currency_id)

    @api.model
    def _redemption_product(self, company):
        return company.crmcom_redemption_product_id or self.env.ref(
            "pos_crmcom_rewards.product_crmcom_redemption", raise_if_not_found=False
        )

    @api.model
    def _performed_on(self, order):
        """The time of the sale, as the till's local time: CRM.COM dates carry no
        zone. The zone is the cashier's, else the company's, else UTC."""
        tz = order.user_id.tz or order.company_id.partner_id.tz or "UTC"
        moment = pytz.utc.localize(order.date_order)
        return moment.astimezone(pytz.timezone(tz)).replace(tzinfo=None)

    @api.model
    def _purchase_for_order(self, order, *, reference=None):
        config = order.config_id
        if not config.crmcom_unit_value:
            raise CrmcomOrderError(
                _("The point of sale %(pos)s has no CRM.COM unit.", pos=config.name)
            )
        return Purchase(
            customer=self._order_customer(order),
            unit=config._crmcom_unit_identifier(),
            performed_on=self._performed_on(order),
            reference_number=reference or order.crmcom_reference or order.pos_reference,
            lines=self._order_lines(order),
            external_system=config._crmcom_external_system(),
            external_system_reference_number=order.uuid or None,
        )

    @api.model
    def _submit_order(self, order, *, commit=False):
        """Send ``order``'s purchase to CRM.COM, exactly once.

        Returns True when the order has its purchase in CRM.COM. The order row is
        locked meanwhile, so two workers never send the same order. Every attempt
        but the first looks the reference up in CRM.COM before creating anything:
        an earlier answer may have been lost, or the worker may have died before it
        stored it. With ``commit``, the attempt is committed before the call, so
        that even a crash right after CRM.COM answered is counted.
        """
        order.ensure_one()
        self.env.cr.execute("SELECT id FROM pos_order WHERE id = %s FOR UPDATE", (order.id,))
        order.invalidate_recordset()
        if order.crmcom_purchase_id or order.crmcom_state not in ("pending", "failed"):
            return bool(order.crmcom_purchase_id)
        look_up_first = order.crmcom_attempts > 0
        attempt = {
            "crmcom_attempts": order.crmcom_attempts + 1,
            "crmcom_reference": order.crmcom_reference or order.pos_reference,
            "crmcom_first_attempt_at": order.crmcom_first_attempt_at or fields.Datetime.now(),
        }
        try:
            purchase = self._purchase_for_order(order, reference=attempt["crmcom_reference"])
            client = self._client(order.company_id, order=order, partner=order.partner_id)
        except (CrmcomOrderError, CrmcomConfigurationError) as error:
            order.write(self._failure(order, attempt, error, retry=False))
            return False
        order.write(attempt)
        if commit:
            self.env.cr.commit()
            self.env.cr.execute("SELECT id FROM pos_order WHERE id = %s FOR UPDATE", (order.id,))
        try:
            data = None
            if look_up_first:
                data = client.find_purchase(
                    purchase.customer,
                    purchase.reference_number,
                    submitted_after=attempt["crmcom_first_attempt_at"] - LOOKUP_MARGIN,
                )
            if data is None:
                data = client.create_purchase(purchase)
            result = read_purchase(data)
        except CrmcomError as error:
            refused = isinstance(error, CrmcomApiError) and not isinstance(
                error, CrmcomAuthenticationError
            )
            order.write(self._failure(order, {}, error, retry=not refused))
            return False
        except ValueError as error:  # an OK answer without a usable purchase
            order.write(self._failure(order, {}, CrmcomProtocolError(str(error)), retry=True))
            return False
        self._store_purchase(order, result)
        return True

    @api.model
    def _failure(self, order, values, error, *, retry):
        """Values for a failed attempt: retried later with a growing delay, or
        failed for the back office (refused, or out of attempts)."""
        attempts = values.get("crmcom_attempts", order.crmcom_attempts)
        message = error if isinstance(error, CrmcomOrderError) else self._describe_error(error)
        if retry and attempts < order.company_id.crmcom_max_attempts:
            delay = min(RETRY_DELAY_CAP, RETRY_DELAY_BASE * 2 ** max(0, attempts - 1))
            return {
                **values,
                "crmcom_state": "pending",
                "crmcom_last_error": str(message),
                "crmcom_next_attempt_at": fields.Datetime.now() + delay,
            }
        return {
            **values,
            "crmcom_state": "failed",
            "crmcom_last_error": str(message),
            "crmcom_next_attempt_at": False,
        }

    @api.model
    def _store_purchase(self, order, result):
        order.write(
            {
                "crmcom_state": "sent",
                "crmcom_last_error": False,
                "crmcom_next_attempt_at": False,
                "crmcom_sent_at": fields.Datetime.now(),
                "crmcom_purchase_id": result.id,
                "crmcom_purchase_number": result.number,
                "crmcom_awarded_amount": float(result.award_amount),
                "crmcom_instant_spend_amount": float(result.instant_spend_amount),
                "crmcom_automatic_spend_amount": float(result.automatic_spend_amount),
            }
        )

    @api.model
    def _cron_submit_pending(self, batch_size=100, *, commit=True):
        """Scheduled action: send the pending orders that are due, oldest first, each
        in its own transaction; wakes itself up again while some remain."""
        orders = self.env["pos.order"].sudo().search(
            [
                ("crmcom_state", "=", "pending"),
                ("crmcom_next_attempt_at", "<=", fields.Datetime.now()),
            ],
            order="crmcom_next_attempt_at, id",
            limit=batch_size,
        )
        for order in orders:
            self.with_company(order.company_id)._submit_order(
                order.with_company(order.company_id), commit=commit
            )
            if commit:
                self.env.cr.commit()
        if len(orders) == batch_size:
            self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit")._trigger()
        return len(orders)

    @api.model
    def _retry_orders(self, orders):
        """Back-office "Retry": send the failed orders again (lookup first where the
        last attempt may have reached CRM.COM)."""
        orders.check_access("write")
        sent = failed = 0
        for order in orders.filtered(lambda order: order.crmcom_state == "failed"):
            if self._submit_order(order.sudo()):
                sent += 1
            else:
                failed += 1
        if failed:
            return _notification(
                _("CRM.COM submission"),
                _(
                    "%(sent)s order(s) sent, %(failed)s still failing: see the CRM.COM tab.",
                    sent=sent,
                    failed=failed,
                ),
                "warning",
            )
        return _notification(
            _("CRM.COM submission"), _("%(sent)s order(s) sent.", sent=sent), "success"
        )


def _decimal(amount, currency):
    places = Decimal(1).scaleb(-currency.decimal_places)
    return Decimal(str(amount)).quantize(places, rounding=ROUND_HALF_UP)


def _spread(sold, factor, currency):
    """Scale every line by ``factor`` in place, keeping the exact scaled grand total
    (the rounding rest goes to the largest line)."""
    places = Decimal(1).scaleb(-currency.decimal_places)
    target_total = sum(item[3] for item in sold) * factor
    target_net = sum(item[2] for item in sold) * factor
    target_total = target_total.quantize(places, rounding=ROUND_HALF_UP)
    target_net = target_net.quantize(places, rounding=ROUND_HALF_UP)
    for item in sold:
        item[2] = (item[2] * factor).quantize(places, rounding=ROUND_HALF_UP)
        item[3] = (item[3] * factor).quantize(places, rounding=ROUND_HALF_UP)
    largest = max(sold, key=lambda item: item[3])
    largest[3] += target_total - sum(item[3] for item in sold)
    largest[2] += target_net - sum(item[2] for item in sold)


def _notification(title, message, kind):
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {"title": title, "message": message, "type": kind, "sticky": kind != "success"},
    }
