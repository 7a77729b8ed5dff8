# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Exactly once under real concurrency: two threads, each with its own database
cursor, on committed data (see committed.py)."""

import threading
import time
from decimal import Decimal

from odoo import fields
from odoo.tests import tagged

from ..crmcom_simulator import Fault
from .committed import THREAD_TIMEOUT, CommittedPosCase

CREATE = "customer_events/purchases/create"
# Long enough for the other thread to arrive while a call or a transaction is
# under way, whatever the load of the machine.
OVERLAP = 1.0
# A CRM.COM call long enough for a till request to be done before it is.
SLOW_CALL = 4.0


@tagged("post_install", "-at_install")
class TestCrmcomConcurrency(CommittedPosCase):
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
        # CRM.COM takes its time: the refund is synced while the create is served.
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=SLOW_CALL, times=1))
        refund = self.order_data(2, refund_of=sold_line_id)

        def till():
            # The worker has committed its attempt and is waiting for CRM.COM.
            deadline = time.monotonic() + THREAD_TIMEOUT
            while time.monotonic() < deadline:
                [[attempts]] = self.fetch_rows(
                    "SELECT crmcom_attempts FROM pos_order WHERE id = %s", [order_id]
                )
                if attempts and self.simulator.in_flight:
                    break
                time.sleep(0.02)
            [refund_id] = self.sync(refund)
            # The sale never waits for CRM.COM: the refund is saved while the
            # worker still holds the order it refunds, its create still in flight.
            return refund_id, self.simulator.in_flight, self.order_states([refund_id])

        outcomes = self.in_threads(till, self.run_worker)
        self.assert_overlapped(outcomes)
        refund_id, in_flight_after_sync, states_after_sync = outcomes[0][2]
        self.assertEqual(in_flight_after_sync, 1, "the refund waited for CRM.COM")
        # Left to the sender, which applied it once its chunk was done.
        self.assertEqual(states_after_sync, {refund_id: "refund_pending"})
        self.drain()
        self.assertEqual(self.order_states([refund_id]), {refund_id: "none"})
        purchases = self.simulator.purchases()
        by_reference = {p["reference_number"]: p for p in purchases}
        self.assertEqual(len(purchases), 2, purchases)
        self.assertEqual(by_reference[reference]["life_cycle_state"], "CANCELLED")
        kept = by_reference[f"{reference}/2"]
        self.assertEqual(kept["life_cycle_state"], "POSTED")
        self.assertEqual(kept["total_amount"], Decimal("12.00"))
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})

    def test_a_refund_of_an_order_held_elsewhere_is_applied_once_it_is_free(self):
        [order_id] = self.sync(self.order_data(5))
        self.drain()
        [[sold_line_id]] = self.fetch_rows(
            "SELECT id FROM pos_order_line WHERE order_id = %s", [order_id]
        )
        refund = self.order_data(5, refund_of=sold_line_id)  # everything returned
        with self.registry.cursor() as holder:
            # Another worker holds the order (say, cancelling it for another reason).
            holder.execute("SELECT id FROM pos_order WHERE id = %s FOR UPDATE", [order_id])
            [(_started, _ended, [refund_id])] = self.in_threads(lambda: self.sync(refund))
            self.assertEqual(self.order_states([refund_id]), {refund_id: "refund_pending"})
            self.run_worker()  # still held: the refund waits for its turn
            self.assertEqual(
                self.order_states([order_id, refund_id]),
                {order_id: "sent", refund_id: "refund_pending"},
            )
            [[recheck_at]] = self.fetch_rows(
                "SELECT crmcom_next_attempt_at FROM pos_order WHERE id = %s", [refund_id]
            )
            self.assertGreater(recheck_at, fields.Datetime.now())
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE pos_order SET crmcom_next_attempt_at = %s WHERE id = %s",
                [fields.Datetime.now(), refund_id],
            )
        self.drain()
        self.assertEqual(
            self.order_states([order_id, refund_id]), {order_id: "cancelled", refund_id: "none"}
        )
        self.assertEqual(self.simulator.purchases(state="POSTED"), [])
