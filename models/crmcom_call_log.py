import contextlib
import json
from datetime import timedelta

from odoo import api, fields, models

from .plain_insert import insert_rows


class CrmcomCallLog(models.Model):
    """One CRM.COM call: what was asked, what came back, how long it took.

    Bodies are stored with secrets already removed by the client, and with the
    customers' cards, phones and e-mails masked (last 4 characters)."""

    _name = "crmcom.call.log"
    _description = "CRM.COM Call Log"
    _order = "id desc"
    _rec_name = "operation"

    operation = fields.Char(required=True, readonly=True, index=True)
    http_method = fields.Char(string="Method", readonly=True)
    duration_ms = fields.Float(string="Duration (ms)", readonly=True, digits=(16, 1))
    outcome = fields.Char(readonly=True, index=True, help="OK or the error code")
    success = fields.Boolean(readonly=True, index=True)
    http_status = fields.Integer(string="HTTP Status", readonly=True)
    error_message = fields.Text(readonly=True)
    request_body = fields.Text(readonly=True)
    response_body = fields.Text(readonly=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        index=True,
        default=lambda self: self.env.company,
    )
    pos_order_id = fields.Many2one(
        "pos.order", readonly=True, index="btree_not_null", ondelete="set null"
    )
    partner_id = fields.Many2one(
        "res.partner", readonly=True, index="btree_not_null", ondelete="set null"
    )

    def init(self):
        result = super().init()
        # For the monitoring route (models/crmcom_metrics.py): the calls of the last
        # minutes, a range scan at the end of the log that reads nothing else
        # (entries are never updated: autovacuum keeps them all-visible). Also
        # serves the clean-up by age.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS crmcom_call_log_metrics_recent_idx
                   ON crmcom_call_log (create_date) INCLUDE (operation, outcome, duration_ms)"""
        )
        # The last successful call: the first entry of this index, however long
        # CRM.COM has been failing.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS crmcom_call_log_metrics_success_idx
                   ON crmcom_call_log (create_date) WHERE success"""
        )
        return result

    @api.model
    def _record_call(self, record, *, company, order=None, partner=None):
        """Store a crmcom.CallRecord (its bodies are already redacted)."""
        return self._record_calls([(record, company, order, partner)])

    @api.model
    def _record_calls(self, calls):
        """Store ``(CallRecord, company, order, partner)`` tuples in one INSERT."""
        return insert_rows(
            self.sudo(),
            [
                {
                    "operation": record.operation,
                    "http_method": record.http_method,
                    "duration_ms": record.duration * 1000.0,
                    "outcome": record.outcome,
                    "success": record.outcome == "OK",
                    "http_status": record.http_status or 0,
                    "error_message": str(record.error) if record.error else False,
                    "request_body": _dump(mask_personal(record.request)),
                    "response_body": _dump(mask_personal(record.response)),
                    "company_id": company.id,
                    "pos_order_id": order.id if order else False,
                    "partner_id": partner.id if partner else False,
                }
                for record, company, order, partner in calls
            ],
        )

    @api.model
    @contextlib.contextmanager
    def _one_insert(self):
        """Within: the CRM.COM calls made on this cursor are kept, then logged in one
        insert when the block ends (a till call makes one or two). Nested blocks
        join the outer one. On an exception nothing is logged: the request's
        transaction, which would hold the entries, is lost anyway."""
        data = self.env.cr.precommit.data
        if PENDING_KEY in data:
            yield
            return
        pending = data[PENDING_KEY] = []
        try:
            yield
        finally:
            del data[PENDING_KEY]
        if pending:
            self._record_calls(pending)

    @api.model
    def _pending(self):
        """The list this cursor's calls go to inside ``_one_insert``, else None."""
        return self.env.cr.precommit.data.get(PENDING_KEY)

    @api.model
    def _gc_old_entries(self):
        """Scheduled action: drop entries older than each company's retention."""
        for company in self.env["res.company"].sudo().search([]):
            limit = fields.Datetime.now() - timedelta(days=company.crmcom_log_retention_days)
            self.sudo().search(
                [("company_id", "=", company.id), ("create_date", "<", limit)]
            ).unlink()


# Key of the calls waiting for _one_insert in the cursor's precommit data.
PENDING_KEY = "crmcom.call.log.pending"

# Where CRM.COM requests and answers carry a customer's card, phone or e-mail.
PERSONAL_KEYS = frozenset(
    {
        "authentication_code",
        "identifier",
        "access_token",
        "email",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "mobile_number",
        "card_number",
    }
)


def mask_personal(body):
    """``body`` with every personal identifier cut to its last 4 characters."""
    if isinstance(body, dict):
        return {
            key: _masked(value) if key in PERSONAL_KEYS else mask_personal(value)
            for key, value in body.items()
        }
    if isinstance(body, list | tuple):
        return [mask_personal(item) for item in body]
    return body


def _masked(value):
    if isinstance(value, str):
        return "*" * max(0, len(value) - 4) + value[-4:] if len(value) > 4 else "****"
    if isinstance(value, dict | list | tuple):
        return mask_personal(value)
    return value


def _dump(body):
    if body is None:
        return False
    if isinstance(body, str):
        return body
    # Compact: the indented form goes through json's pure-Python encoder, several
    # times slower on the large answers of purchases.
    return json.dumps(body, sort_keys=True, default=str, ensure_ascii=False)
