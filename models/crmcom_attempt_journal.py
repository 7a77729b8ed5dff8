import datetime

from odoo import _, api, fields, models
from odoo.tools import SQL

# A row older than this whose order no one touched since is brought back by the
# daily vacuum (the order is then looked up in CRM.COM by the scheduled sender).
STALE_AFTER = datetime.timedelta(hours=1)


class CrmcomAttemptJournal(models.Model):
    """CRM.COM creates made inside a request whose outcome the order does not hold yet.

    A till spend and the back office's Retry call CRM.COM inside the user's
    transaction. When that transaction is lost after CRM.COM applied the call (the
    worker dies, or Odoo's RPC layer rolls it back and runs the request again after
    a serialization failure), the order forgets the attempt, and the next one would
    create a second purchase or spend. So each such attempt is first written here,
    in a transaction of its own, and removed once the request has committed its
    outcome. A row that outlives its request means: CRM.COM may hold this
    purchase or spend; ask CRM.COM before sending anything again.

    The rows name their order by uuid, not by a foreign key: the inserting
    transaction must not wait for the order's row, which the request has locked."""

    _name = "crmcom.attempt.journal"
    _description = "CRM.COM Attempt Journal"
    _order = "id"
    _log_access = False  # written by plain SQL in a transaction of its own

    order_uuid = fields.Char(required=True, index=True, readonly=True)
    kind = fields.Selection(
        [("purchase", "Purchase"), ("spend", "Spend request")], required=True, readonly=True
    )
    key = fields.Char(
        required=True,
        readonly=True,
        help="Purchase: its reference number. Spend request: the id of its purchase.",
    )
    attempt = fields.Integer(
        readonly=True,
        help="Purchase: the order's count of attempts, this one included. Spend request:"
        " how many spends the order recorded on the purchase before this one.",
    )
    wallet_before = fields.Float(
        digits=(16, 2),
        readonly=True,
        help="Purchase: the wallet before it, for the receipt (CRM.COM's wallet includes"
        " the purchase once it is made).",
    )
    created_at = fields.Datetime(required=True, readonly=True)

    @api.model
    def _write_ahead(self, order, kind, key, *, attempt=0, wallet_before=None):
        """Record, committed at once, that ``order``'s ``kind`` (keyed by ``key``) is
        about to be sent to CRM.COM; the row goes away after the current
        transaction commits (it stays if that transaction is lost)."""
        row_id = self._record(order, kind, key, attempt=attempt, wallet_before=wallet_before)
        # Gone when the current transaction commits, kept when it is lost. The row
        # is not in this transaction's snapshot, so it is deleted right after the
        # commit. Odoo's test cursor shares one transaction and runs no post-commit
        # hooks: there the row is visible, and deleted with the request (undone if
        # the request is undone).
        if self.env.registry.in_test_mode():
            self._delete([row_id])
        committed = self.env.cr.postcommit.data.setdefault("crmcom.attempt.journal", [])
        if not committed:
            self.env.cr.postcommit.add(lambda: self._forget_committed(committed))
        committed.append(row_id)
        return row_id

    @api.model
    def _record(self, order, kind, key, *, attempt=0, wallet_before=None):
        """A row committed at once, kept whatever the current transaction does: what
        CRM.COM may hold for ``order``, until a later step finds out."""
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """INSERT INTO crmcom_attempt_journal
                              (order_uuid, kind, key, attempt, wallet_before, created_at)
                       VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                    order.uuid,
                    kind,
                    key,
                    attempt,
                    wallet_before,
                    fields.Datetime.now(),
                )
            )
            return cr.fetchone()[0]

    @api.model
    def _forget_committed(self, row_ids):
        # After the request's commit, in a transaction of its own: the request's
        # snapshot predates these rows and could not see them.
        with self.env.registry.cursor() as cr:
            cr.execute(SQL("DELETE FROM crmcom_attempt_journal WHERE id IN %s", tuple(row_ids)))

    @api.model
    def _rows(self, orders, kind):
        """{order uuid: [(id, key, attempt, created_at, wallet_before)]} of
        ``orders``' rows, oldest first."""
        uuids = tuple(uuid for uuid in orders.mapped("uuid") if uuid)
        if not uuids:
            return {}
        self.env.cr.execute(
            SQL(
                """SELECT order_uuid, id, key, attempt, created_at, wallet_before
                     FROM crmcom_attempt_journal
                    WHERE kind = %s AND order_uuid IN %s
                 ORDER BY id""",
                kind,
                uuids,
            )
        )
        rows = {}
        for uuid, *row in self.env.cr.fetchall():
            rows.setdefault(uuid, []).append(tuple(row))
        return rows

    @api.model
    def _delete(self, row_ids):
        if row_ids:
            self.env.cr.execute(
                SQL("DELETE FROM crmcom_attempt_journal WHERE id IN %s", tuple(row_ids))
            )

    @api.model
    def _recover_purchases(self, orders):
        """Give back to ``orders`` (their rows locked) the purchase attempts their
        request lost: each counts again as an attempt, so the next one looks the
        purchase up in CRM.COM before creating anything (see flows/purchase.begin_attempt),
        and a cancellation looks for it too. A sale at rest (no purchase sent yet,
        or failed) becomes pending again. Rows whose attempt the order holds
        already are removed. Returns the orders recovered."""
        rows = self._rows(orders, "purchase")
        if not rows:
            return orders.browse()
        recovered = orders.browse()
        done = []
        for order in orders:
            reference = order.crmcom_reference or order.pos_reference
            lost = [
                row
                for row in rows.get(order.uuid, ())
                if row[1] == reference
                and row[2] > order.crmcom_attempts
                and not order.crmcom_purchase_id
            ]
            done.extend(row[0] for row in rows.get(order.uuid, ()))
            if not lost:
                continue
            first_attempt = min(row[3] for row in lost)
            values = {
                "crmcom_attempts": max(row[2] for row in lost),
                "crmcom_reference": reference,
                "crmcom_first_attempt_at": min(
                    first_attempt, order.crmcom_first_attempt_at or first_attempt
                ),
            }
            wallets = [row[4] for row in lost if row[4] is not None]
            if wallets:
                values["crmcom_wallet_before"] = wallets[-1]
            if order.crmcom_state in ("none", "failed"):
                values.update(
                    {
                        "crmcom_state": "pending",
                        "crmcom_last_error": _(
                            "An attempt was interrupted before the answer of CRM.COM was"
                            " saved: CRM.COM is asked about it before anything is sent again."
                        ),
                        "crmcom_next_attempt_at": fields.Datetime.now(),
                    }
                )
            order.write(values)
            recovered |= order
        self._delete(done)
        return recovered

    @api.model
    def _spends_recorded(self, order):
        """How many spends ``order`` holds on its purchase (the till asks for one)."""
        return int(bool(order.crmcom_spend_id or order.crmcom_additional_spend_amount))

    @api.model
    def _lost_spends(self, orders):
        """{order uuid: row ids} of the spend requests that lost requests may have
        made on the current purchase of ``orders``. Rows are kept while the order
        has no purchase yet (its lost purchase may be found again); rows of an
        earlier purchase, or of a spend the order holds, are removed."""
        rows = self._rows(orders, "spend")
        lost = {}
        done = []
        for order in orders:
            for row_id, key, attempt, *_rest in rows.get(order.uuid, ()):
                if not order.crmcom_purchase_id or (
                    key == order.crmcom_purchase_id and attempt >= self._spends_recorded(order)
                ):
                    lost.setdefault(order.uuid, []).append(row_id)
                else:
                    done.append(row_id)
        self._delete(done)
        return lost

    @api.model
    def _stale_uuids(self):
        """The orders of rows older than an hour (see pos.order's vacuum)."""
        self.env.cr.execute(
            SQL(
                "SELECT DISTINCT order_uuid FROM crmcom_attempt_journal WHERE created_at < %s",
                fields.Datetime.now() - STALE_AFTER,
            )
        )
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _delete_stale(self, *, keep):
        """Remove the rows older than an hour but those of the orders ``keep``."""
        self.env.cr.execute(
            SQL(
                "DELETE FROM crmcom_attempt_journal WHERE created_at < %s AND order_uuid NOT IN %s",
                fields.Datetime.now() - STALE_AFTER,
                tuple(keep.mapped("uuid")) or ("",),
            )
        )
