# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Tests on committed data: each till request and each worker run in its own
database cursor and transaction, as in production (an Odoo test normally runs in
one rolled-back transaction, where nothing can race and nothing is lost).

The class commits its own till, session, customer and product through fresh
cursors and removes everything it committed when it ends (also when a test
fails), so the reused test database stays as it was. Till requests go through
``odoo.service.model.retrying``, as Odoo's RPC layer runs them (it retries on
PostgreSQL concurrency errors); workers run ``pos.order._crmcom_cron_send`` as the
scheduled action does, committing.

Under ``odoo-bin --test-tags`` the post-install tests run inside
``ThreadedServer.run``, which holds the class-wide ``Registry._lock`` from start-up
to the end of the tests (pytest-odoo holds nothing). A thread of a test that opens
an environment on a fresh cursor looks the registry up with ``Registry(dbname)``,
which takes that lock: it would wait for the tests to end, i.e. forever. In
production no request holds it while others run, so the class gives its threads
a lock of their own (a real ``RLock``: they still serialize registry look-ups among
themselves) and puts Odoo's back when it ends. Nothing else changes: every till
request and worker still has its own PostgreSQL connection and transaction.
"""

import copy
import threading
import time
import uuid as uuid_lib

from odoo import api, fields
from odoo.models import BaseModel
from odoo.modules.registry import Registry
from odoo.service.model import retrying
from odoo.tests import TransactionCase
from odoo.tools import SQL

from .common import ALICE, CrmcomSimulatorMixin, TillCalls

THREAD_TIMEOUT = 120
COMPANY_FIELDS = (
    "crmcom_enabled",
    "crmcom_base_url",
    "crmcom_auth_method",
    "crmcom_web_api_key",
    "crmcom_connect_timeout",
    "crmcom_read_timeout",
    "crmcom_fallback_product_code",
)


class CommittedPosCase(CrmcomSimulatorMixin, TransactionCase):
    """A till, its open session, a CRM.COM customer and a product, committed for
    the class; every test starts without the orders of the one before."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._free_registry_lock()
        cls.start_simulator()
        cls.committed = {}
        cls.addClassCleanup(cls._remove_committed)
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, cls.env.uid, {})
            company = env.company
            cls.committed["company"] = (
                company.id,
                company.sudo().read(list(COMPANY_FIELDS))[0],
            )
            cls.committed["cron_trigger_max"] = _max_id(cr, "ir_cron_trigger")
            # Calls logged before an order or a customer is known (an identification)
            # name neither: everything logged after this id is the class's.
            cls.committed["call_log_max"] = _max_id(cr, "crmcom_call_log")
            company.sudo().write(
                {
                    "crmcom_enabled": True,
                    "crmcom_base_url": cls.simulator.base_url,
                    "crmcom_auth_method": "web_api_key",
                    "crmcom_web_api_key": "EE73C0AE64524371B5DDEFF5F7BB2192",
                    "crmcom_connect_timeout": 2.0,
                    "crmcom_read_timeout": 10.0,
                    "crmcom_fallback_product_code": False,
                }
            )
            card = env["pos.payment.method"].search(
                [
                    ("company_id", "=", company.id),
                    ("journal_id.type", "=", "bank"),
                    ("split_transactions", "=", False),
                ],
                limit=1,
            )
            if not card:
                journal = env["account.journal"].create(
                    {"name": "CRM.COM race bank", "type": "bank", "code": "CRMRB"}
                )
                card = env["pos.payment.method"].create(
                    {"name": "CRM.COM race card", "journal_id": journal.id}
                )
                cls.committed["payment_method"] = (card.id, journal.id)
            cls.payment_method_id = card.id
            product = env["product.product"].create(
                {
                    # A service: selling it moves no stock (nothing more to remove).
                    "name": "CRM.COM race coffee",
                    "type": "service",
                    "default_code": "COFFEE",
                    "available_in_pos": True,
                    "list_price": 4.0,
                    "taxes_id": [(5, 0, 0)],
                }
            )
            cls.committed["product"] = product.id
            cls.product_id = product.id
            cls.redemption_product_id = env.ref("pos_crmcom_rewards.product_crmcom_redemption").id
            partner = env["res.partner"].create(
                {
                    # Linked by account only: the participant id is unique, and the
                    # other test classes link Alice by it in their own transactions.
                    "name": "CRM.COM race customer",
                    "crmcom_participant_number": ALICE["number"],
                    "crmcom_account_number": ALICE["account_number"],
                }
            )
            cls.committed["partner"] = partner.id
            cls.partner_id = partner.id
            config = env["pos.config"].create(
                {
                    "name": "CRM.COM race till",
                    "payment_method_ids": [(6, 0, card.ids)],
                    "crmcom_enabled": True,
                    "crmcom_unit_key": "alternative_code",
                    "crmcom_unit_value": "SHOP1",
                }
            )
            cls.committed["config"] = config.id
            cls.config_id = config.id
            # Real concurrency needs committed data (cleaned up by the class).
            cr.commit()  # pylint: disable=invalid-commit
            config.open_ui()
            session = config.current_session_id
            cls.committed["session"] = session.id
            cls.session_id = session.id
            cls.pricelist_id = config.pricelist_id.id
            session.set_opening_control(0, None)

    @classmethod
    def _free_registry_lock(cls):
        """Give the registry look-ups of this class's threads a lock nobody holds
        (see the module's docstring); Odoo's lock is put back when the class ends."""
        held = Registry._lock
        Registry._lock = threading.RLock()

        def restore():
            Registry._lock = held

        cls.addClassCleanup(restore)

    @classmethod
    def _remove_committed(cls):
        """Everything setUpClass and the tests committed, removed in one transaction."""
        committed = cls.committed
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, cls.env.uid, {})
            session_id = committed.get("session")
            if session_id:
                cr.execute("SELECT id FROM pos_order WHERE session_id = %s", [session_id])
                order_ids = [row[0] for row in cr.fetchall()]
                cr.execute(
                    "DELETE FROM crmcom_call_log"
                    " WHERE pos_order_id = ANY(%s) OR partner_id = %s OR id > %s",
                    [order_ids, committed.get("partner"), committed.get("call_log_max")],
                )
                for model, ids in (("pos.order", order_ids), ("pos.session", [session_id])):
                    cr.execute(
                        "DELETE FROM mail_message WHERE model = %s AND res_id = ANY(%s)",
                        [model, ids],
                    )
                    cr.execute(
                        "DELETE FROM mail_followers WHERE res_model = %s AND res_id = ANY(%s)",
                        [model, ids],
                    )
                # Paid orders cannot be deleted through the ORM (and must not be, in
                # real life): lines and payments go with them (ON DELETE CASCADE).
                cr.execute("DELETE FROM pos_order WHERE id = ANY(%s)", [order_ids])
                cr.execute("DELETE FROM pos_session WHERE id = %s", [session_id])
            if committed.get("config"):
                cr.execute(
                    "DELETE FROM crmcom_till_preview WHERE config_id = %s", [committed["config"]]
                )
                env["pos.config"].browse(committed["config"]).unlink()
            if committed.get("partner"):
                env["res.partner"].browse(committed["partner"]).unlink()
            if committed.get("product"):
                product = env["product.product"].browse(committed["product"])
                template = product.product_tmpl_id
                product.unlink()
                template.unlink()
            if committed.get("payment_method"):
                method_id, journal_id = committed["payment_method"]
                env["pos.payment.method"].browse(method_id).unlink()
                env["account.journal"].browse(journal_id).unlink()
            if "cron_trigger_max" in committed:
                cr.execute(
                    "DELETE FROM ir_cron_trigger WHERE id > %s", [committed["cron_trigger_max"]]
                )
            if committed.get("company"):
                company_id, values = committed["company"]
                values = {name: values[name] for name in COMPANY_FIELDS}
                env["res.company"].browse(company_id).sudo().write(values)

    # ------------------------------------------------------------- helpers

    def setUp(self):
        super().setUp()
        self.addCleanup(self._delete_orders)

    def _delete_orders(self):
        """Each test starts without the orders of the one before."""
        with self.registry.cursor() as cr:
            cr.execute("SELECT id FROM pos_order WHERE session_id = %s", [self.session_id])
            order_ids = [row[0] for row in cr.fetchall()]
            cr.execute("DELETE FROM crmcom_call_log WHERE pos_order_id = ANY(%s)", [order_ids])
            cr.execute(
                "DELETE FROM crmcom_attempt_journal WHERE order_uuid IN"
                " (SELECT uuid FROM pos_order WHERE id = ANY(%s))",
                [order_ids],
            )
            cr.execute(
                "DELETE FROM mail_message WHERE model = 'pos.order' AND res_id = ANY(%s)",
                [order_ids],
            )
            cr.execute("DELETE FROM pos_order WHERE id = ANY(%s)", [order_ids])

    def order_data(self, quantity, *, refund_of=None, redemption=0.0):
        """An order as the till syncs it: ``quantity`` coffees paid by card, or
        (``refund_of``: the sold pos.order.line) a refund of ``quantity`` of them;
        ``redemption``: the CRM.COM redemption deducted (a line of its own)."""
        order_uuid = str(uuid_lib.uuid4())
        qty = -quantity if refund_of else quantity
        lines = [_line(self.product_id, qty, 4.0)]
        if refund_of:
            lines[0]["refunded_orderline_id"] = refund_of
        if redemption:
            lines.append(_line(self.redemption_product_id, 1, -redemption))
        total = 4.0 * qty - redemption
        return {
            "amount_paid": total,
            "amount_return": 0,
            "amount_tax": 0.0,
            "amount_total": total,
            "date_order": fields.Datetime.to_string(fields.Datetime.now()),
            "fiscal_position_id": False,
            "pricelist_id": self.pricelist_id,
            "name": f"Order {order_uuid}",
            "last_order_preparation_change": "{}",
            "lines": [(0, 0, line) for line in lines],
            "partner_id": self.partner_id,
            "session_id": self.session_id,
            "sequence_number": 2,
            "payment_ids": [
                (
                    0,
                    0,
                    {
                        "amount": total,
                        "name": fields.Datetime.now(),
                        "payment_method_id": self.payment_method_id,
                    },
                )
            ],
            "uuid": order_uuid,
            "user_id": self.env.uid,
            "to_invoice": False,
        }

    def draft_data(self, quantity):
        """An order being rung up, as the till saves it before payment."""
        return {**self.order_data(quantity), "state": "draft", "payment_ids": [], "amount_paid": 0}

    def paid_data(self, draft, *, quantity=None, redemption=0.0):
        """``draft`` paid by card as the till syncs it (``quantity`` coffees, by
        default as many as in the draft), with the ``redemption`` deducted."""
        quantity = quantity or draft["lines"][0][2]["qty"]
        return self.saved_again(draft, self.order_data(quantity, redemption=redemption))

    def changed_draft_data(self, draft, quantity):
        """``draft`` changed at the till to ``quantity`` coffees, saved again."""
        return self.saved_again(draft, self.draft_data(quantity))

    def saved_again(self, draft, paid):
        """``paid`` as the till sends it for the order of ``draft`` (same uuid and
        name): its lines replace those saved before."""
        saved_lines = self.fetch_rows(
            "SELECT line.id FROM pos_order_line line JOIN pos_order o ON o.id = line.order_id"
            " WHERE o.uuid = %s",
            [draft["uuid"]],
        )
        lines = [(2, line_id) for (line_id,) in saved_lines] + paid["lines"]
        [[access_token]] = self.fetch_rows(
            "SELECT access_token FROM pos_order WHERE uuid = %s", [draft["uuid"]]
        )
        return {
            **paid,
            "uuid": draft["uuid"],
            "name": draft["name"],
            "access_token": access_token,
            "lines": lines,
        }

    def request(self, method, *args, die=False):
        """A till RPC (``method`` of :class:`TillCalls`) or a back-office button
        (``action_…`` of the records first in ``args``), in
        its own transaction as Odoo's RPC layer runs it. ``die``: the worker dies
        after the method returned, before the transaction commits (everything it
        wrote in this transaction is lost; what CRM.COM did stays)."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})

            def call():
                # Records given by the test are read in this request's transaction.
                bound = [arg.with_env(env) if isinstance(arg, BaseModel) else arg for arg in args]
                if method.startswith("action_"):  # a back-office button on records
                    records, *rest = bound
                    result = getattr(records, method)(*rest)
                else:
                    result = getattr(TillCalls(env), method)(*bound)
                if die:
                    raise WorkerDied()
                return result

            try:
                return retrying(call, env)
            except WorkerDied:
                cr.rollback()
                return None

    def journal(self, order_uuid):
        """The (kind, key) rows of the attempt journal for this order."""
        return self.fetch_rows(
            "SELECT kind, key FROM crmcom_attempt_journal WHERE order_uuid = %s ORDER BY id",
            [order_uuid],
        )

    def sync(self, data, *, hold=0.0, on_saved=None):
        """The till's sync_from_ui RPC in its own transaction, as Odoo's RPC layer
        runs it; ``hold`` keeps the transaction open after the orders are saved
        (a slow request), ``on_saved`` runs there. Returns the order ids."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})

            def call():
                result = env["pos.order"].sync_from_ui([copy.deepcopy(data)])
                if on_saved:
                    on_saved()
                time.sleep(hold)
                return [order["id"] for order in result["pos.order"]]

            return retrying(call, env)

    def run_worker(self):
        """One run of the scheduled action, in its own transactions."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})
            return env["pos.order"]._crmcom_cron_send()

    def fetch_rows(self, query, params=None):
        with self.registry.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall()

    def order_states(self, order_ids):
        return dict(
            self.fetch_rows(
                "SELECT id, crmcom_state FROM pos_order WHERE id = ANY(%s)", [order_ids]
            )
        )

    def in_threads(self, *targets):
        """Run ``targets`` at the same moment (a barrier), each in its own thread;
        returns [(started, ended, result or exception)] in the same order."""
        barrier = threading.Barrier(len(targets))
        outcomes = [None] * len(targets)

        def run(index, target):
            barrier.wait(timeout=THREAD_TIMEOUT)
            started = time.monotonic()
            try:
                result = target()
            except Exception as error:  # reported by the test, not lost in the thread
                result = error
            outcomes[index] = (started, time.monotonic(), result)

        threads = [
            threading.Thread(target=run, args=(index, target), daemon=True)
            for index, target in enumerate(targets)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(THREAD_TIMEOUT)
            self.assertFalse(thread.is_alive(), "a thread is stuck (deadlock?)")
        for _started, _ended, result in outcomes:
            if isinstance(result, Exception):
                raise AssertionError(f"a thread failed: {result!r}") from result
        return outcomes

    def assert_overlapped(self, outcomes):
        (start_a, end_a, _a), (start_b, end_b, _b) = outcomes
        self.assertLess(max(start_a, start_b), min(end_a, end_b), "the threads did not overlap")

    def drain(self):
        for _round in range(10):
            if not self.run_worker():
                return
        self.fail("the worker never ran out of orders")

    def posted(self, reference):
        return self.simulator.purchases(reference_number=reference, state="POSTED")


class WorkerDied(Exception):
    """The Odoo worker stops here: its transaction never commits."""


def _line(product_id, qty, price):
    return {
        "product_id": product_id,
        "qty": qty,
        "price_unit": price,
        "price_subtotal": price * qty,
        "price_subtotal_incl": price * qty,
        "discount": 0.0,
        "tax_ids": [(6, 0, [])],
        "pack_lot_ids": [],
        "uuid": str(uuid_lib.uuid4()),
    }


def _max_id(cr, table):
    cr.execute(SQL("SELECT COALESCE(MAX(id), 0) FROM %s", SQL.identifier(table)))
    return cr.fetchone()[0]
