"""The rewards flows: the one place where Odoo talks to CRM.COM.

It builds the client from the company settings (every call logged), turns Odoo
records into CRM.COM payloads and CRM.COM answers into Odoo records and plain words.
Models, controllers and the till call it; no CRM.COM error ever reaches a cashier
as a traceback.
"""

import dataclasses
import datetime
import hashlib
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor, as_completed
from decimal import ROUND_HALF_UP, Decimal

import psycopg2.errors
import pytz

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_amount

from ..crmcom import (
    BACK_END_REDUCTION,
    FRONT_END_REDUCTION,
    CrmcomAlreadyCancelledError,
    CrmcomAnswerError,
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomClient,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomError,
    CrmcomNotFoundError,
    CrmcomProtocolError,
    CrmcomRedirectError,
    CrmcomTimeoutError,
    Purchase,
    PurchaseLine,
    product_identifier,
    read_participant,
    read_preview,
    read_purchase,
    read_spend_request,
    rewards_participant_identifier,
)
from ..crmcom.tokens import jwt_claims
from . import trust

_logger = logging.getLogger(__name__)

IDENTIFIER_KINDS = ("access_token", "number", "id")
MAX_IDENTIFIER_LENGTH = 200
# No till spends more in one go; larger numbers are typing or crafted input.
MAX_SPEND_AMOUNT = Decimal(1_000_000_000)
# A lost answer is looked up among the purchases submitted since a little before the
# first attempt (clocks of Odoo and CRM.COM may differ).
LOOKUP_MARGIN = datetime.timedelta(hours=1)
PREVIEW_VALIDITY = datetime.timedelta(minutes=15)
# An access token's "last used" is kept to the hour (not rewritten at every scan).
TOKEN_USE_PRECISION = datetime.timedelta(hours=1)
# What a cancelled redemption leaves behind on a draft order.
RESETTABLE_FIELDS = (
    "crmcom_purchase_id",
    "crmcom_purchase_number",
    "crmcom_spend_id",
    "crmcom_spend_number",
    "crmcom_reduction_method",
    "crmcom_awarded_amount",
    "crmcom_instant_spend_amount",
    "crmcom_automatic_spend_amount",
    "crmcom_additional_spend_amount",
    "crmcom_redemption_amount",
    "crmcom_wallet_before",
    "crmcom_wallet_after",
    "crmcom_attempts",
    "crmcom_first_attempt_at",
    "crmcom_next_attempt_at",
    "crmcom_last_error",
    "crmcom_sent_at",
    "crmcom_basket_digest",
)
# An order being sent is not due again before this (its worker holds it meanwhile;
# after a crash, the next attempt looks it up first).
IN_FLIGHT_LEASE = datetime.timedelta(minutes=5)
# Orders handled per transaction by the sender, per request allowed in flight: two
# rounds of requests, few enough that a refund synced meanwhile (which does not
# wait for the order it refunds) is applied soon after.
CHUNK_PER_REQUEST = 2
# A refund whose original order is still held elsewhere is looked at again after this.
REFUND_RECHECK = datetime.timedelta(seconds=10)
RETRY_DELAY_BASE = datetime.timedelta(minutes=1)
RETRY_DELAY_CAP = datetime.timedelta(hours=1)


class CrmcomOrderError(Exception):
    """An order cannot be turned into a CRM.COM purchase (a reason for the back office)."""


class CrmcomRewards(models.AbstractModel):
    _name = "crmcom.rewards"
    _description = "CRM.COM Rewards flows"

    # ------------------------------------------------------------------ client

    @api.model
    def _client(self, company, *, order=None, partner=None, calls=None):
        """A client for ``company``'s CRM.COM settings whose calls are logged: at
        once, or appended to ``calls`` as ``(record, company, order, partner)`` for
        ``crmcom.call.log._record_calls`` (clients used outside this thread).

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
        if calls is None:
            log = self.env["crmcom.call.log"]

            def on_call(record):
                log._record_call(record, company=company, order=order, partner=partner)
        else:

            def on_call(record):
                calls.append((record, company, order, partner))

        return CrmcomClient(
            settings.crmcom_base_url,
            timeout=(settings.crmcom_connect_timeout, settings.crmcom_read_timeout),
            on_call=on_call,
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
        if isinstance(error, CrmcomRedirectError):
            return _(
                "The CRM.COM server address answered with a redirect, which is never followed"
                " (it would send the credentials elsewhere): check the server address."
            )
        if isinstance(error, CrmcomProtocolError):
            return _("The server did not answer like a CRM.COM server: check the server address.")
        if isinstance(error, CrmcomApiError):
            return _(
                "CRM.COM refused the request: %(message)s",
                message=error.api_message or error.description or error.code,
            )
        if isinstance(error, CrmcomAnswerError):
            return _("CRM.COM sent an answer that cannot be used (%(detail)s).", detail=error)
        return str(error)  # our own errors, already in the user's language

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
    def _link_partner(self, participant, company, *, token=None):
        """The Odoo customer of a participant of ``company``'s CRM.COM: found by
        participant id, then by access token, then by participant number, among the
        customers of that CRM.COM visible to ``company``; else created. Never two
        customers for one participant, even when two tills identify at once."""
        if not participant.id:
            raise CrmcomOrderError(_("CRM.COM sent a customer without an id."))
        partners = (
            self.env["res.partner"].sudo().with_context(active_test=False, tracking_disable=True)
        )
        members = [
            ("crmcom_company_id", "=", company.id),
            ("company_id", "in", [company.id, False]),
        ]
        partner = partners.search(
            [("crmcom_participant_id", "=", participant.id), *members], limit=1
        )
        if not partner:
            # Serialises concurrent linking of the same participant until commit
            # (only needed when the customer may be linked or created here).
            self.env.cr.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"crmcom:{company.id}:{participant.id}",),
            )
            partner = partners.search(
                [("crmcom_participant_id", "=", participant.id), *members], limit=1
            )
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
            return self._linked(partner, token)
        changed = {
            name: value
            for name, value in identity.items()
            if (partner[name].id if name == "crmcom_company_id" else partner[name]) != value
        }
        if changed:
            partner.write(changed)
        # The wallet snapshot changes at every identification: a plain UPDATE, as a
        # partner's write costs the cashier 10 ms or more (nothing depends on it).
        partners.flush_model(list(wallet))
        self.env.cr.execute(
            SQL(
                "UPDATE res_partner SET crmcom_wallet_balance = %s, crmcom_wallet_read_at = %s"
                " WHERE id = %s",
                wallet["crmcom_wallet_balance"],
                wallet["crmcom_wallet_read_at"],
                partner.id,
            )
        )
        partner.invalidate_recordset(list(wallet))
        return self._linked(partner, token)

    @api.model
    def _linked(self, partner, token):
        """``partner``, known by ``token`` from now on (if one was scanned)."""
        if token:
            self._remember_token(partner, token)
        return partner.sudo(False)

    @api.model
    def _remember_token(self, partner, code):
        tokens = self.env["crmcom.access.token"].sudo()
        known = tokens.search(
            [("code", "=", code), ("company_id", "=", partner.crmcom_company_id.id)], limit=1
        )
        now = fields.Datetime.now()
        if not known:
            tokens.create({"code": code, "partner_id": partner.id})
        elif (
            known.partner_id != partner
            or not known.last_used
            or known.last_used < now - TOKEN_USE_PRECISION
        ):
            known.write({"partner_id": partner.id, "last_used": now})

    @api.model
    @trust.flow
    def identify_customer(self, config_id, kind, value):
        """The till's "identify" (guide step 1): find the participant in CRM.COM by
        access token, number or id, link it to an Odoo customer and return what the
        cashier sees. Never raises for CRM.COM trouble: ``{"ok": False, "reason",
        "message"}`` tells the cashier what happened and that the sale can go on."""
        config, refusal = self._till(config_id)
        if refusal:
            return refusal
        try:
            identifier = self._participant_identifier(kind, value)
        except ValueError as error:
            return {"ok": False, "reason": "invalid", "message": str(error)}
        try:
            client = self._client(config.company_id)
            participant = read_participant(client.show_rewards_participant(identifier))
        except CrmcomApiError as error:
            if isinstance(error, CrmcomNotFoundError):
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
                    "The CRM.COM membership of %(name)s is not active: no rewards on" " this sale.",
                    name=participant.name,
                ),
            }
        try:
            partner = self._link_partner(
                participant,
                config.company_id,
                token=value.strip() if kind == "access_token" else None,
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
    @trust.flow
    def preview_order(self, config_id, order_data):
        """The till's rewards panel (guide, advanced flow step 2): what CRM.COM
        would award and let the customer spend on the order as it stands.

        ``order_data``: ``{"uuid", "partner_id", "lines": [{"product_id", "qty",
        "price_subtotal", "price_subtotal_incl"}]}`` in the till's currency. The
        answer is kept on the server for the spend request's checks."""
        config, refusal = self._till(config_id)
        if refusal:
            return refusal
        try:
            uuid, partner, lines = self._draft_order(config, order_data)
            now = fields.Datetime.now()
            purchase = Purchase(
                customer=self._partner_customer(partner, config.company_id),
                unit=config._crmcom_unit_identifier(),
                performed_on=self._local_time(now, self.env.user, config.company_id),
                reference_number=uuid,
                lines=self._purchase_lines(
                    config.company_id, lines, currency=config.currency_id, date=now
                ),
                external_system=config._crmcom_external_system(),
            )
        except (CrmcomOrderError, ValueError) as error:
            return {"ok": False, "reason": "invalid", "message": str(error)}
        try:
            client = self._client(config.company_id, partner=partner)
            preview = read_preview(client.preview_purchase(purchase))
        except (CrmcomError, ValueError) as error:
            return self._till_failure(error)
        self.env["crmcom.till.preview"].sudo().create(
            {
                "order_uuid": uuid,
                "config_id": config.id,
                "partner_id": partner.id,
                "purchase_digest": _purchase_digest(purchase),
                "total_amount": float(purchase.total_amount),
                "reduction_method": preview.reduction_method,
                "award_amount": float(preview.award_amount),
                "instant_spend_amount": float(preview.instant_spend_amount),
                "automatic_spend_amount": float(preview.automatic_spend_amount),
                "additional_spend_amount": float(preview.additional_spend_amount),
                "minimum_spend_amount": float(preview.minimum_spend_amount or 0),
                "maximum_spend_amount": float(
                    preview.maximum_spend_amount
                    if preview.maximum_spend_amount is not None
                    else preview.additional_spend_amount
                ),
                "wallet_balance": float(
                    preview.wallet_balance
                    if preview.wallet_balance is not None
                    else partner.crmcom_wallet_balance
                ),
                "allow_spending": preview.allow_spending,
            }
        )
        return {
            "ok": True,
            "reduction_method": preview.reduction_method,
            "front_end": preview.front_end,
            "award_amount": float(preview.award_amount),
            "instant_spend_amount": float(preview.instant_spend_amount),
            "automatic_spend_amount": float(preview.automatic_spend_amount),
            "automatic_redemption": float(preview.automatic_redemption),
            "additional_spend_amount": float(preview.additional_spend_amount),
            "minimum_spend_amount": float(preview.minimum_spend_amount or 0),
            "maximum_spend_amount": float(preview.maximum_spend_amount or 0),
            "wallet_balance": float(preview.wallet_balance or 0),
            # Front-end: a discount at the till; back-end: CRM.COM refunds the spend
            # through its payment gateway (guide, advanced flow step 4).
            "allow_spending": preview.allow_spending,
        }

    @api.model
    @trust.flow
    def spend_order(self, config_id, order_uuid, amount):
        """The till's "Spend rewards" (guide steps 3-4): submit the order's purchase,
        then a spend request for ``amount`` (0 = only what CRM.COM spends by itself),
        and return the redemption the till deducts: what CRM.COM really spent plus
        its instant and automatic spend, never the amount asked.

        The order must be saved as a draft first (the till syncs it). Checks are
        made here against the server's own preview: positive amount, within the
        minimum and maximum per spend, not above what is available nor above what
        is due. Asking twice (double click, second tab, reload) answers the first
        result again: never two purchases nor two spends for one order."""
        config, refusal = self._till(config_id)
        if refusal:
            return refusal
        try:
            requested = _amount(amount)
        except ValueError as error:
            return {"ok": False, "reason": "invalid", "message": str(error)}
        order, refusal = self._till_order(config, order_uuid, _("Save the order first."))
        if refusal:
            return refusal
        # The CRM.COM fields are not tracked: spare each write the chatter's work.
        order = order.with_context(tracking_disable=True)
        self._lock(order)
        self.env["crmcom.attempt.journal"]._recover_purchases(order)
        if order.crmcom_additional_spend_amount or (order.crmcom_purchase_id and not requested):
            return self._spend_answer(order, requested)
        if order.state != "draft":
            return {
                "ok": False,
                "reason": "invalid",
                "message": _("This order is already paid: rewards can no longer be spent on it."),
            }
        try:
            purchase = self._purchase_for_order(order)
            preview = self._spend_preview(config, order, purchase)
            self._check_spend(order, preview, requested)
        except CrmcomOrderError as error:
            return {"ok": False, "reason": "refused", "message": str(error)}
        except CrmcomError as error:
            return self._till_failure(error)
        # The receipt's wallet before is CRM.COM's wallet before the purchase: a
        # later preview already includes the purchase's award and spend.
        if not order.crmcom_attempts:
            order.crmcom_wallet_before = preview.wallet_balance
        if not order.crmcom_purchase_id:
            failure = self._spend_purchase(order, purchase)
            if failure:
                return failure
        order.crmcom_reduction_method = preview.reduction_method
        if requested:
            try:
                self._send_spend(order, requested)
            except CrmcomError as error:
                self._write_redemption(order)
                answer = self._till_failure(error)
                answer["message"] = _(
                    "The purchase is recorded in CRM.COM, but the spend failed: %(problem)s",
                    problem=answer["message"],
                )
                answer.update(self._spend_answer(order, requested), ok=False)
                return answer
        self._write_redemption(order)
        return self._spend_answer(order, requested)

    @api.model
    @trust.flow
    def cancel_order_rewards(self, config_id, order_uuid):
        """The till's "Cancel redemption": cancel the draft order's purchase in
        CRM.COM now (its spend and awards with it), so that the cashier can change
        the order and redeem again. The next purchase of the order gets a new
        reference number (``<order reference>/2``, then ``/3``…)."""
        config, refusal = self._till(config_id)
        if refusal:
            return refusal
        order, refusal = self._till_order(config, order_uuid, _("No open order to change."))
        if refusal:
            return refusal
        if order.state != "draft":
            return {"ok": False, "reason": "invalid", "message": _("No open order to change.")}
        order = order.with_context(tracking_disable=True)
        self._lock(order)
        self.env["crmcom.attempt.journal"]._recover_purchases(order)
        if order.crmcom_state in ("sent", "pending", "failed"):
            order.crmcom_state = "cancel_pending"
        try:
            if order.crmcom_state == "cancel_pending":
                self._cancel_order_purchase(order, raise_errors=True)
        except (CrmcomError, CrmcomOrderError, ValueError) as error:
            if isinstance(error, CrmcomError) and error.maybe_applied:
                # Maybe cancelled: the order must not be paid with this redemption.
                message = _(
                    "CRM.COM did not confirm the cancellation of the redemption. Delete"
                    " this order and ring it up again."
                )
            else:
                order.crmcom_state = "sent"  # nothing changed in CRM.COM
                message = _(
                    "CRM.COM could not cancel the redemption now (%(problem)s). Keep the"
                    " order as it is, or delete it and ring it up again.",
                    problem=order.crmcom_last_error,
                )
            return {"ok": False, "reason": "unavailable", "message": message}
        # The spend is given back to the wallet: the order may deduct nothing now.
        order.write(
            _next_purchase_values(order, crmcom_state="none", crmcom_redemption_allowed=0.0)
        )
        return {"ok": True}

    @api.model
    def _spend_purchase(self, order, purchase):
        """The purchase of a spend at the till: None once it is in CRM.COM, else the
        answer for the till."""
        try:
            _result, outdated = self._send_purchase(order, purchase=purchase)
            if outdated:
                self._replace_outdated_now(order)
        except CrmcomOrderError as error:
            return {"ok": False, "reason": "refused", "message": str(error)}
        except CrmcomError as error:
            if order.crmcom_state == "cancel_pending":
                return {
                    "ok": False,
                    "reason": "unavailable",
                    "message": _(
                        "CRM.COM holds an earlier version of this order and could not cancel"
                        " it now (%(problem)s). Delete this order and ring it up again.",
                        problem=self._describe_error(error),
                    ),
                }
            if error.maybe_applied:
                # Known to the order sync: its purchase is looked up before resending.
                order.write(
                    {
                        "crmcom_state": "pending",
                        "crmcom_last_error": self._describe_error(error),
                        "crmcom_next_attempt_at": fields.Datetime.now(),
                    }
                )
            return self._till_failure(error)
        return None

    @api.model
    def _replace_outdated_now(self, order):
        """The draft's purchase found in CRM.COM is an earlier version of the order
        (sent by a request whose answer was lost, before the cashier changed the
        order): cancel it now and send the order as it is, under the next reference
        number. The wallet before stays the one before the first version."""
        wallet_before = order.crmcom_wallet_before
        order.crmcom_state = "cancel_pending"
        self._cancel_order_purchase(order, raise_errors=True)
        order.write(
            _next_purchase_values(order, crmcom_state="none", crmcom_wallet_before=wallet_before)
        )
        self._send_purchase(order)

    @api.model
    def _spend_preview(self, config, order, purchase):
        """The server's preview of ``order`` (whose ``purchase`` is given) as it
        stands: the one the till showed, if it is fresh and for this customer and
        total, else a new one."""
        previews = self.env["crmcom.till.preview"].sudo()
        digest = _purchase_digest(purchase)
        preview = previews._latest(order.uuid, config, digest, PREVIEW_VALIDITY)
        if not preview:
            answer = self.preview_order(
                config.id,
                {
                    "uuid": order.uuid,
                    "partner_id": order.partner_id.id,
                    "lines": [
                        {
                            "product_id": line.product_id.id,
                            "qty": line.qty,
                            "price_subtotal": line.price_subtotal,
                            "price_subtotal_incl": line.price_subtotal_incl,
                        }
                        for line in order.lines
                    ],
                },
            )
            if not answer["ok"]:
                raise CrmcomOrderError(answer["message"])
            preview = previews._latest(order.uuid, config, digest, PREVIEW_VALIDITY)
            if not preview:
                # The till's lines and the saved ones give different purchases (a
                # product code, a rounding): check against the latest preview.
                preview = previews._latest(order.uuid, config, None, PREVIEW_VALIDITY)
        return preview

    @api.model
    def _check_spend(self, order, preview, requested):
        """Invariant "the server decides": refuse what CRM.COM's limits forbid."""
        currency = order.company_id.currency_id
        if preview.reduction_method not in (FRONT_END_REDUCTION, BACK_END_REDUCTION):
            raise CrmcomOrderError(
                _(
                    "CRM.COM named no reduction method this till knows (%(method)s): no"
                    " rewards can be spent here.",
                    method=preview.reduction_method or "-",
                )
            )
        if not requested:
            if preview.reduction_method == BACK_END_REDUCTION:
                raise CrmcomOrderError(
                    _("This shop redeems rewards in CRM.COM itself (back-end reduction).")
                )
            return
        if not preview.allow_spending or currency.is_zero(preview.additional_spend_amount):
            raise CrmcomOrderError(_("CRM.COM allows no spending on this order."))
        due = preview.total_amount - preview.instant_spend_amount - preview.automatic_spend_amount

        def money(value):
            return format_amount(self.env, value, currency)

        limits = (
            (preview.minimum_spend_amount, -1, _("Spend at least %(amount)s.")),
            (preview.maximum_spend_amount, 1, _("Spend at most %(amount)s at a time.")),
            (preview.additional_spend_amount, 1, _("At most %(amount)s can be spent.")),
            (due, 1, _("Spend at most the amount due, %(amount)s.")),
        )
        for bound, side, message in limits:
            if currency.compare_amounts(float(requested), bound) == side:
                raise CrmcomOrderError(message % {"amount": money(bound)})

    @api.model
    def _replace_after_lost_spends(self, orders):
        """Paid orders whose purchase a lost request may have given a spend (made
        at the till or by the sender, its answer never saved): whether it did or
        not, the purchase is cancelled (which gives any such spend back to the
        wallet) and the sale sent again, with the redemption the till really
        deducted. Returns those orders."""
        journal = self.env["crmcom.attempt.journal"]
        lost = journal._lost_spends(orders)
        replaced = orders.filtered(
            lambda order: order.uuid in lost
            and order.crmcom_purchase_id
            and order.crmcom_state == "sent"
            and order.state in ("paid", "done", "invoiced")
        )
        for order in replaced:
            _logger.warning(
                "Order %s: a spend request on purchase %s may have reached CRM.COM without"
                " its answer being saved; the purchase is cancelled and sent again.",
                order.pos_reference,
                order.crmcom_purchase_number or order.crmcom_purchase_id,
            )
            journal._delete(lost[order.uuid])
        self._replace_later(replaced)
        return replaced

    @api.model
    def _replace_later(self, orders):
        """Cancel the purchases of these paid orders in CRM.COM, then send the
        orders again as new purchases (next reference number), by the sender."""
        orders.write({"crmcom_replace_after_cancel": True})
        orders._crmcom_queue_cancel()

    @api.model
    def _send_spend(self, order, requested):
        """Create the spend request (sent once). When its answer is lost, the
        purchase tells whether it was applied and how much was spent; so it does
        when the request that sent it was lost (see crmcom.attempt.journal)."""
        client = self._client(order.company_id, order=order, partner=order.partner_id)
        config = order.config_id
        journal = self.env["crmcom.attempt.journal"]
        lost = journal._lost_spends(order).get(order.uuid)
        if lost:
            found = self._spend_found_on_purchase(order, client)
            journal._delete(lost)
            if found:
                return
        journal._write_ahead(
            order, "spend", order.crmcom_purchase_id, attempt=journal._spends_recorded(order)
        )
        try:
            data = client.create_spend_request(
                customer=self._order_customer(order),
                unit=config._crmcom_unit_identifier(),
                performed_on=self._local_time(
                    fields.Datetime.now(), order.user_id, order.company_id
                ),
                purchase={"id": order.crmcom_purchase_id},
                spend_amount=requested,
                external_system=config._crmcom_external_system(),
            )
            result = read_spend_request(data)
        except CrmcomError as error:
            # Applied, answer lost? The purchase says how much was spent.
            if not error.maybe_applied or not self._spend_found_on_purchase(order, client):
                raise
            return
        except ValueError as error:
            raise CrmcomProtocolError(str(error), maybe_applied=True) from None
        order.write(
            {
                "crmcom_spend_id": result.id,
                "crmcom_spend_number": result.number,
                "crmcom_additional_spend_amount": float(result.spent_amount),
            }
        )

    @api.model
    def _spend_found_on_purchase(self, order, client):
        """Whether CRM.COM's purchase of ``order`` holds an additional spend (one
        whose answer never reached the order); if so, the order takes its amount."""
        shown = read_purchase(client.show_purchase({"id": order.crmcom_purchase_id}))
        if shown.additional_spend_amount <= 0:
            return False
        order.crmcom_additional_spend_amount = float(shown.additional_spend_amount)
        return True

    @api.model
    def _write_redemption(self, order):
        """Redemption = additional + instant + automatic spend (none at a back-end
        till: CRM.COM refunds it); wallet after = before + awarded - spent (the
        guide's formulas)."""
        redemption = _redemption(order)
        order.write(
            {
                "crmcom_redemption_amount": redemption,
                "crmcom_redemption_allowed": redemption,
                "crmcom_wallet_after": order.crmcom_wallet_before
                + order.crmcom_awarded_amount
                - _spent(order),
            }
        )

    @api.model
    def _spend_answer(self, order, requested):
        spent = order.crmcom_additional_spend_amount
        currency = order.currency_id
        # A CRM.COM set to spend the whole purchase spends more than asked: the till
        # deducts what it spent, and says so.
        exceeded = bool(requested) and currency.compare_amounts(spent, float(requested)) > 0
        back_end = order.crmcom_reduction_method == BACK_END_REDUCTION
        refund = _spent(order) if back_end else 0.0
        notice = False
        if back_end and not currency.is_zero(refund):
            notice = _(
                "CRM.COM spent %(amount)s of the customer's rewards and refunds it through its"
                " payment gateway: no discount at the till.",
                amount=format_amount(self.env, refund, currency),
            )
        elif exceeded:
            notice = _(
                "CRM.COM spent %(spent)s, more than the %(asked)s asked (it spends the whole"
                " purchase at this shop): %(spent)s is deducted from the order.",
                spent=format_amount(self.env, spent, currency),
                asked=format_amount(self.env, float(requested), currency),
            )
        return {
            "ok": True,
            "purchase_number": order.crmcom_purchase_number,
            "requested_amount": float(requested),
            "spent_amount": spent,
            "partial": bool(requested) and currency.compare_amounts(spent, float(requested)) < 0,
            "exceeded": exceeded,
            "back_end": back_end,
            "refund_amount": refund,
            "notice": notice,
            "instant_spend_amount": order.crmcom_instant_spend_amount,
            "automatic_spend_amount": order.crmcom_automatic_spend_amount,
            "redemption_amount": order.crmcom_redemption_amount,
            "award_amount": order.crmcom_awarded_amount,
            "wallet_before": order.crmcom_wallet_before,
            "wallet_after": order.crmcom_wallet_after,
            "redemption_product_id": self._redemption_product(order.company_id).id,
        }

    @api.model
    def _draft_order(self, config, order_data):
        """(uuid, partner, lines) of an order the till describes; ValueError with
        plain words for anything malformed."""
        if not isinstance(order_data, dict):
            raise ValueError(_("The order sent by the till is unreadable."))
        uuid = order_data.get("uuid")
        if not isinstance(uuid, str) or not 0 < len(uuid) <= 64:
            raise ValueError(_("The order sent by the till has no reference."))
        partner_id = order_data.get("partner_id")
        partner = self.env["res.partner"]
        if isinstance(partner_id, int) and not isinstance(partner_id, bool):
            partner = partner.browse(partner_id).exists()
        if not partner or not (partner.crmcom_account_number or partner.crmcom_account_id):
            raise ValueError(_("Identify the CRM.COM customer first."))
        if not partner._crmcom_linked_to(config.company_id):
            raise ValueError(
                _("This customer is a member of another company's CRM.COM: identify them again.")
            )
        try:
            partner.check_access("read")
        except AccessError:
            raise ValueError(_("Identify the CRM.COM customer first.")) from None
        raw_lines = order_data.get("lines")
        if not isinstance(raw_lines, list) or not raw_lines or len(raw_lines) > 1000:
            raise ValueError(_("The order has no lines."))
        if not all(isinstance(raw, dict) for raw in raw_lines):
            raise ValueError(_("The order sent by the till is unreadable."))
        product_ids = [raw.get("product_id") for raw in raw_lines]
        products = self.env["product.product"].browse(
            list({product_id for product_id in product_ids if _is_id(product_id)})
        )
        known = set(products.exists().ids)  # one query for all the lines
        lines = []
        for raw, product_id in zip(raw_lines, product_ids, strict=True):
            if not _is_id(product_id) or product_id not in known:
                raise ValueError(_("The order holds an unknown product."))
            numbers = [raw.get(key) for key in ("qty", "price_subtotal", "price_subtotal_incl")]
            if not all(_is_finite_number(number) for number in numbers):
                raise ValueError(_("The order holds a line without valid amounts."))
            lines.append((products.browse(product_id), *numbers))
        return uuid, partner, lines

    @api.model
    def _local_time(self, moment, user, company):
        """``moment`` (naive UTC) as the till's local time: CRM.COM dates carry no
        zone. The zone is the cashier's, else the company's, else UTC."""
        tz = user.tz or company.partner_id.tz or "UTC"
        return pytz.utc.localize(moment).astimezone(pytz.timezone(tz)).replace(tzinfo=None)

    @api.model
    def _till(self, config_id):
        """The till of a POS call, checked: a Point of Sale user of one of its
        companies, and rewards on. Returns (config, None), or (None, the answer
        that refuses the call)."""

        def refused(message):
            return None, {"ok": False, "reason": "refused", "message": message}

        user = self.env.user
        if not (self.env.su or user.has_group("point_of_sale.group_pos_user")):
            return refused(_("Only Point of Sale users can use CRM.COM Rewards at a till."))
        if not _is_id(config_id):
            return refused(_("Unknown point of sale."))
        config = self.env["pos.config"].browse(config_id).exists()
        try:
            config.check_access("read")
        except AccessError:
            config = config.browse()
        if not config or not (self.env.su or config.company_id in user.company_ids):
            return refused(_("Unknown point of sale."))
        if not config._crmcom_active():
            return refused(_("CRM.COM Rewards is off for this point of sale."))
        return config, None

    @api.model
    def _till_order(self, config, order_uuid, missing):
        """The order ``order_uuid`` of ``config``, which the user may change: (order,
        None), or (None, the answer that refuses the call, ``missing`` if none)."""
        order = self.env["pos.order"]
        if isinstance(order_uuid, str) and 0 < len(order_uuid) <= 64:
            order = order.search(
                [("uuid", "=", order_uuid), ("config_id", "=", config.id)], limit=1
            )
        try:
            order.check_access("write")
        except AccessError:
            order = order.browse()
        if not order:
            return None, {"ok": False, "reason": "invalid", "message": missing}
        return order, None

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
    @trust.flow
    def _refresh_partner(self, partner):
        """Read ``partner``'s participant again (by stored id, else number) from the
        CRM.COM it is a member of, and update the wallet balance; a notification
        says how it went."""
        partner = partner.with_env(self.env)
        partner.check_access("write")
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
            client = self._client(company, partner=partner)
            data = client.show_rewards_participant(self._participant_identifier(kind, value))
            participant = read_participant(data)
            if participant.id and partner.crmcom_participant_id not in (False, participant.id):
                raise CrmcomOrderError(_("CRM.COM answered with another customer."))
            self._link_partner(participant, company)
        except (CrmcomError, CrmcomOrderError, ValueError) as error:
            return _notification(_("CRM.COM look-up failed"), self._describe_error(error), "danger")
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
        return self._partner_customer(order.partner_id, order.company_id)

    @api.model
    def _partner_customer(self, partner, company):
        """The accounts receivable identifier of a customer of ``company``'s CRM.COM."""
        linked = partner.crmcom_account_number or partner.crmcom_account_id
        if linked and not partner._crmcom_linked_to(company):
            raise CrmcomOrderError(
                _(
                    "The customer %(name)s is a member of another company's CRM.COM.",
                    name=partner.display_name,
                )
            )
        if partner.crmcom_account_number:
            return {"number": partner.crmcom_account_number}
        if partner.crmcom_account_id:
            return {"id": partner.crmcom_account_id}
        raise CrmcomOrderError(
            _("The customer %(name)s is not linked to CRM.COM.", name=partner.display_name)
        )

    @api.model
    def _order_lines(self, order):
        """``products_set`` of a saved order (see :meth:`_purchase_lines`): the items
        the customer keeps, refunded quantities left out."""
        lines = []
        for line in order.lines:
            qty, share = line.qty, 1.0
            if line.qty > 0 and line.refunded_qty:
                qty = line.qty - line.refunded_qty
                share = qty / line.qty
            lines.append(
                (
                    line.product_id,
                    qty,
                    line.price_subtotal * share,
                    line.price_subtotal_incl * share,
                )
            )
        return self._purchase_lines(
            order.company_id, lines, currency=order.currency_id, date=order.date_order
        )

    @api.model
    def _purchase_lines(self, company, lines, *, currency, date):
        """``products_set`` for ``lines`` of (product, quantity, amount without tax,
        amount with tax) in ``currency``: amounts after line discounts, in company
        currency, rounded like Odoo; the redemption line left out; negative lines
        (order-wide discounts) spread over the other lines in proportion."""
        company_currency = company.currency_id
        redemption = self._redemption_product(company)
        fallback = (company.crmcom_fallback_product_code or "").strip()

        def company_amount(amount):
            if currency and currency != company_currency:
                amount = currency._convert(amount, company_currency, company, date)
            return _decimal(company_currency.round(amount), company_currency)

        sold, deductions = [], Decimal(0)
        for product, qty, subtotal, subtotal_incl in lines:
            if product == redemption:
                continue
            net, total = company_amount(subtotal), company_amount(subtotal_incl)
            if qty <= 0 or total <= 0:
                deductions += total
                continue
            code = product._crmcom_code() or fallback
            if not code:
                raise CrmcomOrderError(
                    _(
                        "The product %(product)s has no CRM.COM product code (nor"
                        " internal reference) and no fallback code is set.",
                        product=product.display_name,
                    )
                )
            sold.append([code, Decimal(str(qty)), net, total])
        gross = sum((item[3] for item in sold), Decimal(0))
        if not sold or gross + deductions <= 0:
            raise CrmcomOrderError(_("The order has nothing to send to CRM.COM."))
        if deductions:
            _spread(sold, (gross + deductions) / gross, company_currency)
        return [
            PurchaseLine(product_identifier(code=code), net, total - net, total, quantity=qty)
            for code, qty, net, total in sold
        ]

    @api.model
    def _redemption_product(self, company):
        if company.crmcom_redemption_product_id:
            return company.crmcom_redemption_product_id
        # The xmlid's id is cached (env.ref would query its existence every time).
        product_id = self.env["ir.model.data"]._xmlid_to_res_id(
            "pos_crmcom_rewards.product_crmcom_redemption", raise_if_not_found=False
        )
        return self.env["product.product"].browse(product_id)

    @api.model
    def _performed_on(self, order):
        """The time of the sale (also for orders that reach the server late)."""
        return self._local_time(order.date_order, order.user_id, order.company_id)

    @api.model
    def _purchase_for_order(self, order, *, reference=None):
        config = order.config_id
        if not config.crmcom_unit_value:
            raise CrmcomOrderError(
                _("The point of sale %(pos)s has no CRM.COM unit.", pos=config.name)
            )
        try:
            return Purchase(
                customer=self._order_customer(order),
                unit=config._crmcom_unit_identifier(),
                performed_on=self._performed_on(order),
                reference_number=reference or order.crmcom_reference or order.pos_reference,
                lines=self._order_lines(order),
                external_system=config._crmcom_external_system(),
                external_system_reference_number=self._external_reference(order),
            )
        except ValueError as error:
            # The order itself is at fault (its lines, its till): it fails with the
            # reason, and never stops the sender from sending the others.
            raise CrmcomOrderError(
                _("This order cannot be sent to CRM.COM as it is: %(problem)s", problem=error)
            ) from None

    @api.model
    def _external_reference(self, order):
        """``external_system_reference_number``, documented as unique per purchase: the
        order's uuid for its first purchase, ``<uuid>/<n>`` for the next ones (after a
        cancelled redemption, a partial refund, a replaced purchase: the ``/<n>`` of
        their reference number), the same for every attempt at one purchase."""
        if not order.uuid:
            return None
        if order.crmcom_sequence:
            return f"{order.uuid}/{order.crmcom_sequence + 1}"
        return order.uuid

    @api.model
    def _lock(self, orders):
        """Lock the rows of ``orders`` until commit: one worker or till request at a time."""
        if not orders:
            return
        self.env.cr.execute(
            "SELECT id FROM pos_order WHERE id IN %s FOR UPDATE", (tuple(orders.ids),)
        )
        orders.invalidate_recordset()

    @api.model
    def _submit_order(self, order):
        """Send ``order``'s purchase to CRM.COM now, exactly once (the back office's
        Retry; the scheduled sender works through :meth:`_cron_submit_pending`).

        Returns True when the order has its purchase in CRM.COM. The order row is
        locked meanwhile, so no worker sends the same order at the same time."""
        order.ensure_one()
        order = trust.in_flow(order)
        self._lock(order)
        self.env["crmcom.attempt.journal"]._recover_purchases(order)
        if order.crmcom_purchase_id or order.crmcom_state not in ("pending", "failed"):
            return bool(order.crmcom_purchase_id)
        try:
            _result, outdated = self._send_purchase(order)
        except (CrmcomError, CrmcomOrderError) as error:
            order.write(self._failure(order, error))
            return False
        if outdated:
            self._replace_later(order)
        else:
            self._after_purchase(order)
        return True

    @api.model
    def _send_purchase(self, order, *, purchase=None):
        """Create ``order``'s purchase in CRM.COM (the row must be locked) and store
        it; returns (PurchaseResult, outdated) as :func:`_exchange_purchase` does,
        raises CrmcomOrderError / CrmcomError.
        ``purchase``: the order's payload, if the caller has built it already."""
        client, attempt = self._begin_attempt(order, purchase=purchase)
        # This transaction commits after CRM.COM answers, if ever: the attempt is
        # on record meanwhile, so a lost transaction leads to a lookup, not a resend.
        self.env["crmcom.attempt.journal"]._write_ahead(
            order,
            "purchase",
            attempt.purchase.reference_number,
            attempt=order.crmcom_attempts,
            wallet_before=order.crmcom_wallet_before,
        )
        result, outdated = _exchange_purchase(client, attempt)
        self._store_purchase(order, result)
        return result, outdated

    @api.model
    def _begin_attempt(self, order, *, calls=None, purchase=None):
        """Count an attempt at sending ``order``'s purchase (the row must be locked):
        returns the client and the PurchaseAttempt for :func:`_exchange_purchase`.

        Every attempt but the first looks the reference up in CRM.COM before
        creating anything: an earlier answer may have been lost, or the worker may
        have died before it stored it. The order is not due again until the lease
        ends, so no other worker picks it up while its answer is awaited.
        ``calls`` collects the call records instead of logging them at once (for
        calls made outside this thread)."""
        reference = order.crmcom_reference or order.pos_reference
        if purchase is None or purchase.reference_number != reference:
            purchase = self._purchase_for_order(order, reference=reference)
        client = self._client(order.company_id, order=order, partner=order.partner_id, calls=calls)
        now = fields.Datetime.now()
        first_attempt = order.crmcom_first_attempt_at or now
        attempt = PurchaseAttempt(
            purchase=purchase,
            look_up_first=order.crmcom_attempts > 0,
            submitted_after=first_attempt - LOOKUP_MARGIN,
        )
        order.write(
            {
                "crmcom_attempts": order.crmcom_attempts + 1,
                "crmcom_reference": reference,
                "crmcom_first_attempt_at": first_attempt,
                "crmcom_next_attempt_at": now + IN_FLIGHT_LEASE,
            }
        )
        return client, attempt

    @api.model
    def _after_purchase(self, orders):
        """What follows purchases sent after the sale: the kept redemption is
        spent, and the receipt figures are completed for reprints. A purchase that
        a lost spend request may have touched is sent again instead."""
        replaced = self._replace_after_lost_spends(orders)
        for order in orders - replaced:
            self._spend_redemption_kept(order)
        self._receipt_figures(orders)

    @api.model
    def _spend_redemption_kept(self, order):
        """A paid order's purchase sent after the sale (offline till, or the new
        purchase after a partial refund): spend the redemption the till deducted
        and the customer keeps, less what CRM.COM spent by itself on the purchase.
        A spend that fails is written on the order for the back office; the
        purchase stays."""
        currency = order.currency_id
        if order.crmcom_reduction_method == BACK_END_REDUCTION:
            return  # CRM.COM redeems by itself (and refunds through its gateway)
        wanted = order._crmcom_redemption_to_keep()
        if order.state == "draft" or currency.compare_amounts(wanted, 0) <= 0:
            return  # no deduction at the till: nothing to spend
        automatic = order.crmcom_instant_spend_amount + order.crmcom_automatic_spend_amount
        due = currency.round(wanted - automatic)
        message = False
        if currency.compare_amounts(due, 0) > 0:
            try:
                self._send_spend(order, _decimal(due, currency))
            except CrmcomError as error:
                message = _(
                    "The till deducted %(amount)s of CRM.COM rewards, but CRM.COM did not confirm"
                    " spending it: %(problem)s",
                    amount=format_amount(self.env, due, currency),
                    problem=self._describe_error(error),
                )
            else:
                spent = order.crmcom_additional_spend_amount
                if currency.compare_amounts(spent, due) < 0:
                    message = _(
                        "CRM.COM spent %(spent)s of the %(due)s of rewards the till deducted.",
                        spent=format_amount(self.env, spent, currency),
                        due=format_amount(self.env, due, currency),
                    )
        elif currency.compare_amounts(due, 0) < 0:
            message = _(
                "CRM.COM spent %(amount)s more of the wallet than the till deducted.",
                amount=format_amount(self.env, -due, currency),
            )
        order.write(
            {
                "crmcom_redemption_amount": _redemption(order),
                "crmcom_warning": order._crmcom_joined_warning(message),
            }
        )

    @api.model
    def _receipt_figures(self, orders):
        """For a reprint of an order sent after the sale: the reduction method and
        the wallet before come from the till's last preview of the order (guide,
        advanced flow); wallet after = before + awarded - spent."""
        orders = orders.filtered(
            lambda order: not order.crmcom_sequence and not order.crmcom_reduction_method
        )
        if not orders:
            return
        previews = {}
        for preview in (
            self.env["crmcom.till.preview"]
            .sudo()
            .search([("order_uuid", "in", orders.mapped("uuid"))])
        ):  # newest first
            previews.setdefault((preview.order_uuid, preview.partner_id), preview)
        for order in orders:
            preview = previews.get((order.uuid, order.partner_id))
            if preview:
                back_end = preview.reduction_method == BACK_END_REDUCTION
                order.write(
                    {
                        "crmcom_reduction_method": preview.reduction_method,
                        "crmcom_wallet_before": preview.wallet_balance,
                        "crmcom_wallet_after": preview.wallet_balance
                        + order.crmcom_awarded_amount
                        - _spent(order),
                        # The till deducted nothing: CRM.COM refunds what it spent.
                        "crmcom_redemption_amount": 0.0
                        if back_end
                        else order.crmcom_redemption_amount,
                    }
                )

    @api.model
    def _cancel_order_purchase(self, order, *, raise_errors=False):
        """Cancel ``order``'s purchase in CRM.COM (its awards and spends with it).
        Returns True once it is cancelled; failures are retried later (and raised
        after being recorded, with ``raise_errors``)."""
        order.ensure_one()
        self._lock(order)
        if order.crmcom_state != "cancel_pending":
            return order.crmcom_state == "cancelled"
        try:
            client = self._client(order.company_id, order=order, partner=order.partner_id)
            if not order.crmcom_purchase_id:
                # Sent, but the answer was lost: find it before cancelling it.
                found = client.find_purchase(
                    self._order_customer(order),
                    order.crmcom_reference,
                    submitted_after=(order.crmcom_first_attempt_at or order.date_order)
                    - LOOKUP_MARGIN,
                )
                if found is None:  # never reached CRM.COM: nothing to cancel
                    self._after_cancel(order)
                    return True
                self._store_purchase(order, read_purchase(found))
                order.crmcom_state = "cancel_pending"
            try:
                client.cancel_purchase({"id": order.crmcom_purchase_id})
            except CrmcomAlreadyCancelledError:
                # An earlier cancel whose answer was lost, or a cancel made in CRM.COM.
                _logger.info(
                    "Order %s: its purchase %s was cancelled in CRM.COM already.",
                    order.pos_reference,
                    order.crmcom_purchase_number or order.crmcom_purchase_id,
                )
        except (CrmcomError, CrmcomOrderError, ValueError) as error:
            # A cancellation never gives up: the customer must not keep the awards.
            message = self._describe_error(error)
            order.write(
                {
                    "crmcom_attempts": order.crmcom_attempts + 1,
                    "crmcom_last_error": str(message),
                    "crmcom_next_attempt_at": fields.Datetime.now()
                    + _retry_delay(order.crmcom_attempts + 1),
                }
            )
            if raise_errors:
                raise
            return False
        self._after_cancel(order)
        return True

    @api.model
    def _after_cancel(self, order):
        """The purchase is cancelled (or never reached CRM.COM): the order is done
        with CRM.COM, unless a partial refund left items to send again as a new
        purchase (new reference number)."""
        if not order.crmcom_replace_after_cancel:
            order.write(
                {
                    "crmcom_state": "cancelled",
                    "crmcom_last_error": False,
                    "crmcom_next_attempt_at": False,
                }
            )
            return
        order.write(
            _next_purchase_values(
                order,
                crmcom_replace_after_cancel=False,
                crmcom_state="pending",
                crmcom_next_attempt_at=fields.Datetime.now(),
            )
        )

    @api.model
    def _failure(self, order, error):
        """Values for a failed attempt: retried later with a growing delay, or
        failed for the back office (refused by CRM.COM or by our own checks, or
        out of attempts)."""
        attempts = order.crmcom_attempts
        if isinstance(error, CrmcomOrderError | CrmcomConfigurationError):
            retry = False
        else:
            retry = not isinstance(error, CrmcomApiError) or isinstance(
                error, CrmcomAuthenticationError
            )
        message = error if isinstance(error, CrmcomOrderError) else self._describe_error(error)
        if retry and attempts < order.company_id.crmcom_max_attempts:
            return {
                "crmcom_state": "pending",
                "crmcom_last_error": str(message),
                "crmcom_next_attempt_at": fields.Datetime.now() + _retry_delay(attempts),
            }
        return {
            "crmcom_state": "failed",
            "crmcom_last_error": str(message),
            "crmcom_next_attempt_at": False,
        }

    @api.model
    def _store_purchase(self, order, result):
        if order.state == "draft":
            # The till locks the basket CRM.COM now holds; so does the server.
            order.crmcom_basket_digest = order._crmcom_basket_fingerprint()
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
    @trust.flow
    def _cron_submit_pending(self, batch_size=100, *, commit=True):
        """Scheduled action: handle up to ``batch_size`` due orders, oldest first, in
        small chunks (one transaction each) whose purchases are sent in parallel;
        wakes itself up again while some remain. Returns how many were handled."""
        # The CRM.COM fields are not tracked: spare each write the chatter's work.
        handled = self.with_context(tracking_disable=True)._submit_due_orders(
            batch_size, commit=commit
        )
        if handled >= batch_size:
            self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit")._trigger()
        return handled

    @api.model
    def _submit_due_orders(self, batch_size, *, commit):
        handled = 0
        parallel = self._parallel_requests()
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="crmcom-send") as pool:
            while handled < batch_size:
                chunk = min(parallel * CHUNK_PER_REQUEST, batch_size - handled)
                orders = self._claim_due_orders(chunk)
                if not orders:
                    break
                handled += len(orders)
                refunds = orders.filtered(lambda order: order.crmcom_state == "refund_pending")
                if refunds:  # first: they may change what the others become
                    self._apply_waiting_refunds(refunds)
                cancellations = orders.filtered(
                    lambda order: order.crmcom_state == "cancel_pending"
                )
                for order in cancellations:  # rare: one at a time
                    company = order.company_id
                    self.with_company(company)._cancel_order_purchase(order.with_company(company))
                purchases = orders.filtered(lambda order: order.crmcom_state == "pending")
                self._send_purchases(purchases, pool=pool, commit=commit)
                if commit:
                    # One transaction per chunk: a refund never waits long for it.
                    self.env.cr.commit()  # pylint: disable=invalid-commit
        return handled

    @api.model
    def _apply_waiting_refunds(self, refunds):
        """Refunds saved while their original order was being sent: applied now,
        or looked at again shortly if the original is still held."""
        waiting = refunds - refunds._crmcom_apply_refunds()
        if waiting:
            later = fields.Datetime.now() + REFUND_RECHECK
            waiting.write({"crmcom_next_attempt_at": later})
            self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit")._trigger(later)

    @api.model
    def _parallel_requests(self):
        companies = self.env["res.company"].sudo().search([("crmcom_enabled", "=", True)])
        return max(companies.mapped("crmcom_parallel_requests") or [1])

    @api.model
    def _claim_due_orders(self, limit):
        """Lock and return up to ``limit`` due orders that no one else holds (a till
        request, a refund, a back-office retry or another worker: they are skipped,
        not waited for)."""
        self.env["pos.order"].flush_model(["crmcom_state", "crmcom_next_attempt_at", "state"])
        return self._lock_rows(
            SQL(
                """SELECT id FROM pos_order
                    WHERE crmcom_next_attempt_at <= %(now)s
                      AND (crmcom_state IN ('cancel_pending', 'refund_pending')
                           OR (crmcom_state = 'pending' AND state IN ('paid', 'done', 'invoiced')))
                 ORDER BY crmcom_next_attempt_at, id
                    LIMIT %(limit)s
                      FOR UPDATE SKIP LOCKED""",
                now=fields.Datetime.now(),
                limit=limit,
            )
        )

    @api.model
    def _lock_unless_busy(self, orders):
        """Lock those of ``orders`` that no other transaction holds; returns them."""
        if not orders:
            return orders
        return self._lock_rows(
            SQL(
                "SELECT id FROM pos_order WHERE id IN %s FOR UPDATE SKIP LOCKED",
                tuple(orders.ids),
            )
        )

    @api.model
    def _lock_rows(self, query):
        """The pos.order rows that ``query`` (a SELECT id ... FOR UPDATE SKIP
        LOCKED) locked. A row another transaction changed since this one's snapshot
        cannot be locked (repeatable read): then none, and the orders wait for the
        sender's next run instead of failing this one."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(query, log_exceptions=False)
                ids = [row[0] for row in self.env.cr.fetchall()]
        except psycopg2.errors.SerializationFailure:
            ids = []
        orders = self.env["pos.order"].sudo().browse(ids)
        orders.invalidate_recordset()
        return orders

    @api.model
    def _send_purchases(self, orders, *, pool, commit=True):
        """Send the purchases of ``orders`` (locked, due) with several requests in
        flight on the ``pool`` of threads. The database is only touched from this
        thread: attempts are counted (and committed, with ``commit``) before any
        call; the workers only talk HTTP; answers are stored as they come."""
        calls = []  # (CallRecord, company, order, partner), appended by the workers
        jobs = []
        self.env["crmcom.attempt.journal"]._recover_purchases(orders)
        for order in orders:
            company = order.company_id
            rewards = self.with_company(company)
            try:
                client, attempt = rewards._begin_attempt(order.with_company(company), calls=calls)
            except (CrmcomOrderError, CrmcomConfigurationError) as error:
                order.write(rewards._failure(order, error))
                continue
            jobs.append((order, client, attempt, order.crmcom_attempts))
        if commit and jobs:
            # Exactly once: the attempts are on record before CRM.COM is called, so a
            # worker that dies after CRM.COM applied them leads to lookups, not resends.
            self.env.cr.commit()  # pylint: disable=invalid-commit
            # Locked again until the answers are stored. An order someone took or
            # changed in between (a refund, say) is left alone: its attempt is
            # counted, so whoever sends it next looks it up first.
            held = self._lock_unless_busy(orders)
            jobs = [
                job
                for job in jobs
                if job[0] in held
                and job[0].crmcom_state == "pending"
                and job[0].crmcom_attempts == job[3]
            ]
        if not jobs:
            return
        pending = {
            pool.submit(_exchange_purchase, client, attempt): order
            for order, client, attempt, _attempts in jobs
        }
        outdated = self.env["pos.order"]
        for future in as_completed(pending):
            order = pending[future]
            try:
                result, is_outdated = future.result()
            except CrmcomError as error:
                order.write(self._failure(order, error))
                continue
            self._store_purchase(order, result)
            if is_outdated:
                outdated |= order
        self.env["crmcom.call.log"]._record_calls(calls)
        sent = self.env["pos.order"].union(*(order for order, *_ in jobs))
        self._replace_later(outdated)
        self._after_purchase(sent.filtered(lambda order: order.crmcom_state == "sent"))

    @api.model
    def _retry_orders(self, orders):
        """Back-office "Retry": send the failed orders again (lookup first where the
        last attempt may have reached CRM.COM)."""
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise AccessError(_("Only Point of Sale managers can send orders to CRM.COM again."))
        orders.check_access("write")
        orders = trust.in_flow(orders)
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


@dataclasses.dataclass(frozen=True)
class PurchaseAttempt:
    """One attempt at creating an order's purchase, ready to go over HTTP."""

    purchase: Purchase
    look_up_first: bool
    submitted_after: datetime.datetime


def _exchange_purchase(client, attempt):
    """The HTTP part of sending a purchase: look it up first where an earlier
    attempt may have reached CRM.COM, else create it. No database here: worker
    threads run it. Returns (PurchaseResult, outdated): ``outdated`` when the
    purchase found is not the order as it is now (an earlier attempt sent it
    before the order changed: its total differs; or it was cancelled since).
    Raises CrmcomError."""
    purchase = attempt.purchase
    found = None
    if attempt.look_up_first:
        found = client.find_purchase(
            purchase.customer, purchase.reference_number, submitted_after=attempt.submitted_after
        )
    data = found if found is not None else client.create_purchase(purchase)
    try:
        result = read_purchase(data)
    except ValueError as error:  # an OK answer without a usable purchase
        raise CrmcomProtocolError(str(error), maybe_applied=True) from None
    outdated = found is not None and (
        not result.is_posted
        or (result.total_amount is not None and result.total_amount != purchase.total_amount)
    )
    return result, outdated


def _next_purchase_values(order, **values):
    """What starts the next purchase of ``order`` once its last one is cancelled:
    the earlier purchase forgotten, the next reference number (``<ref>/2``, ``/3``…)."""
    sequence = order.crmcom_sequence + 1
    return {
        **{name: False for name in RESETTABLE_FIELDS},
        "crmcom_sequence": sequence,
        "crmcom_reference": f"{order.pos_reference}/{sequence + 1}",
        **values,
    }


def _purchase_digest(purchase):
    """What a preview and a spend must agree on: the customer, the unit and the
    products_set of ``purchase`` (not its date nor its reference)."""
    basket = [purchase.customer, purchase.unit, [line.to_payload() for line in purchase.lines]]
    return hashlib.sha256(json.dumps(basket, sort_keys=True).encode()).hexdigest()


def _spent(order):
    """What CRM.COM spent of the wallet on the order: additional + instant + automatic
    spend."""
    return (
        order.crmcom_additional_spend_amount
        + order.crmcom_instant_spend_amount
        + order.crmcom_automatic_spend_amount
    )


def _redemption(order):
    """What the till deducts: what CRM.COM spent, at a front-end till; nothing at a
    back-end one (CRM.COM refunds the customer through its payment gateway)."""
    if order.crmcom_reduction_method == BACK_END_REDUCTION:
        return 0.0
    return _spent(order)


def _retry_delay(attempts):
    """1, 2, 4 … minutes after the attempts made so far, at most an hour."""
    return min(RETRY_DELAY_CAP, RETRY_DELAY_BASE * 2 ** max(0, attempts - 1))


def _amount(value):
    """A spend amount from the till: a number of at most cents, 0 or more."""
    if not _is_finite_number(value):
        raise ValueError(_("Enter the amount to spend as a number."))
    amount = Decimal(str(value))
    if amount < 0:
        raise ValueError(_("The amount to spend cannot be negative."))
    if amount > MAX_SPEND_AMOUNT:
        raise ValueError(_("The amount to spend is too large."))
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(_("The amount to spend has more than two decimals."))
    return amount


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_finite_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
