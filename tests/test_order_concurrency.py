# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Exactly once under real concurrency: two threads, each with its own database
cursor, on committed data (an Odoo test normally runs in one rolled-back
transaction, where nothing can race).

The class commits its own till, session, customer and product through fresh
cursors and removes everything it committed when it ends (also when a test
fails), so the reused test database stays as it was. Till requests go through
``odoo.service.model.retrying``, as Odoo's RPC layer runs them (it retries on
PostgreSQL concurrency errors); workers run ``_cron_submit_pending`` as the
scheduled action does, committing.
"""

import copy
import threading
import time
import uuid as uuid_lib
from decimal import Decimal

from odoo import api, fields
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged

from ..crmcom_simulator import Fault
from .common import ALICE, CrmcomSimulatorMixin

CREATE = "customer_events/purchases/create"
# Long enough for the other thread to arrive while a call or a transaction is
# under way, whatever the load of the machine.
OVERLAP = 1.0
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


@tagged("post_install", "-at_install")
class TestCrmcomConcurrency(CrmcomSimulatorMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
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
                    "DELETE FROM crmcom_call_log WHERE pos_order_id = ANY(%s) OR partner_id = %s",
                    [order_ids, committed.get("partner")],
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
                "DELETE FROM mail_message WHERE model = 'pos.order' AND res_id = ANY(%s)",
                [order_ids],
            )
            cr.execute("DELETE FROM pos_order WHERE id = ANY(%s)", [order_ids])

    def order_data(self, quantity, *, refund_of=None):
        """An order as the till syncs it: ``quantity`` coffees paid by card, or
        (``refund_of``: the sold pos.order.line) a refund of ``quantity`` of them."""
        order_uuid = str(uuid_lib.uuid4())
        qty = -quantity if refund_of else quantity
        line = {
            "product_id": self.product_id,
            "qty": qty,
            "price_unit": 4.0,
            "price_subtotal": 4.0 * qty,
            "price_subtotal_incl": 4.0 * qty,
            "discount": 0.0,
            "tax_ids": [(6, 0, [])],
            "pack_lot_ids": [],
            "uuid": str(uuid_lib.uuid4()),
        }
        if refund_of:
            line["refunded_orderline_id"] = refund_of
        total = 4.0 * qty
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
            "lines": [(0, 0, line)],
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
            return env["crmcom.rewards"]._cron_submit_pending()

    def fetch_rows(self, query, params=()):
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

    # --------------------------------------------------------------- tests

    def test_two_syncs_of_the_same_paid_order_at_once_make_one_order_and_one_purchase(self):
        data = self.order_data(2)
        # Each request keeps its transaction open a while after saving the order:
        # the other one starts before it commits and cannot see its order.
        first, second = self.in_threads(
            lambda: self.sync(data, hold=OVERLAP), lambda: self.sync(data, hold=OVERLAP)
        )
        self.assert_overlapped([first, second])
        # Both requests answer with the same order (the second one was run again
        # by the RPC layer after the first committed), not with an error.
        self.assertEqual(first[2], second[2])
        rows = self.fetch_rows(
            "SELECT id, crmcom_state FROM pos_order WHERE uuid = %s", [data["uuid"]]
        )
        self.assertEqual(len(rows), 1, "one pos.order per uuid")
        self.assertEqual(rows[0][1], "pending")
        # The till syncs it once more later (it did not know): nothing changes.
        self.assertEqual(self.sync(data), first[2])
        self.drain()
        self.assertEqual(self.order_states(first[2]), {first[2][0]: "sent"})
        [purchase] = self.simulator.purchases()
        self.assertEqual(purchase["reference_number"], data["name"])
        self.assertEqual(purchase["life_cycle_state"], "POSTED")
        self.assertEqual(purchase["total_amount"], Decimal("8.00"))
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_two_workers_at_once_send_each_order_once(self):
        datas = [self.order_data(1 + index % 3) for index in range(6)]
        order_ids = [self.sync(data)[0] for data in datas]
        self.assertEqual(set(self.order_states(order_ids).values()), {"pending"})
        # Every create takes a while: both workers are busy at the same time.
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=0.3, times=None))
        outcomes = self.in_threads(self.run_worker, self.run_worker)
        self.assert_overlapped(outcomes)
        self.drain()  # what a worker left to the other one, if any
        self.assertEqual(set(self.order_states(order_ids).values()), {"sent"})
        for data in datas:
            purchases = self.simulator.purchases(reference_number=data["name"])
            self.assertEqual(len(purchases), 1, data["name"])
            self.assertEqual(purchases[0]["life_cycle_state"], "POSTED")
        self.assertEqual(self.simulator.call_count(CREATE), len(datas))
        # Stored once per order: the purchase ids of the orders are all different.
        stored = self.fetch_rows(
            "SELECT crmcom_purchase_id FROM pos_order WHERE id = ANY(%s)", [order_ids]
        )
        self.assertEqual(len({row[0] for row in stored}), len(datas))

    def test_a_refund_saved_while_a_worker_sends_the_order_is_not_lost(self):
        [order_id] = self.sync(self.order_data(5))  # 20.00
        [[sold_line_id]] = self.fetch_rows(
            "SELECT id FROM pos_order_line WHERE order_id = %s", [order_id]
        )
        reference = self.fetch_rows(
            "SELECT pos_reference FROM pos_order WHERE id = %s", [order_id]
        )[0][0]
        refund = self.order_data(2, refund_of=sold_line_id)
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=OVERLAP, times=1))
        saved = threading.Event()
        worker_done = threading.Event()

        def till():
            # The refund is saved but not committed yet when the worker starts;
            # it commits once the worker is done (or after a while).
            def wait_for_worker():
                saved.set()
                worker_done.wait(OVERLAP * 3)

            return self.sync(refund, on_saved=wait_for_worker)

        def worker():
            saved.wait(THREAD_TIMEOUT)
            try:
                return self.run_worker()
            finally:
                worker_done.set()

        outcomes = self.in_threads(till, worker)
        self.assert_overlapped(outcomes)
        self.drain()
        # CRM.COM ends with the three coffees kept, never with the five sold.
        posted = self.simulator.purchases(state="POSTED")
        self.assertEqual(len(posted), 1, posted)
        self.assertEqual(posted[0]["total_amount"], Decimal("12.00"))
        self.assertTrue(posted[0]["reference_number"].startswith(reference))
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})

    def test_a_refund_while_the_purchase_is_on_its_way_cancels_it_and_sends_the_rest(self):
        [order_id] = self.sync(self.order_data(5))
        [[sold_line_id]] = self.fetch_rows(
            "SELECT id FROM pos_order_line WHERE order_id = %s", [order_id]
        )
        reference = self.fetch_rows(
            "SELECT pos_reference FROM pos_order WHERE id = %s", [order_id]
        )[0][0]
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=OVERLAP, times=1))
        refund = self.order_data(2, refund_of=sold_line_id)

        def till():
            # The worker has committed its attempt and is waiting for CRM.COM.
            deadline = time.monotonic() + THREAD_TIMEOUT
            while time.monotonic() < deadline:
                [[attempts]] = self.fetch_rows(
                    "SELECT crmcom_attempts FROM pos_order WHERE id = %s", [order_id]
                )
                if attempts:
                    break
                time.sleep(0.02)
            return self.sync(refund)

        outcomes = self.in_threads(till, self.run_worker)
        self.assert_overlapped(outcomes)
        self.drain()
        purchases = self.simulator.purchases()
        by_reference = {p["reference_number"]: p for p in purchases}
        self.assertEqual(len(purchases), 2, purchases)
        self.assertEqual(by_reference[reference]["life_cycle_state"], "CANCELLED")
        kept = by_reference[f"{reference}/2"]
        self.assertEqual(kept["life_cycle_state"], "POSTED")
        self.assertEqual(kept["total_amount"], Decimal("12.00"))
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})


def _max_id(cr, table):
    cr.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 (fixed names)
    return cr.fetchone()[0]
