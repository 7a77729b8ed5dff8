# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Exactly once in the sender's pipeline (flows/sender.send_due): the next chunk
is claimed and its requests queued on a cursor of its own while the chunk before
is in flight. What can go wrong there, on committed data (see committed.py)."""

import sys
import threading
import time

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..crmcom_simulator import Fault
from ..flows import sender
from .committed import THREAD_TIMEOUT, CommittedPosCase

CREATE = "customer_events/purchases/create"
LOOKUP = "customer_events/purchases/list"
# One request in flight: chunks of CHUNK_PER_REQUEST (4) orders.
PARALLEL = 1
CHUNK = 4


@tagged("post_install", "-at_install")
class TestCrmcomSenderPipeline(CommittedPosCase):
    def setUp(self):
        super().setUp()
        [[company_id, parallel]] = self.fetch_rows(
            "SELECT id, crmcom_parallel_requests FROM res_company WHERE crmcom_enabled"
            " ORDER BY id LIMIT 1"
        )
        self.set_parallel(company_id, PARALLEL)
        self.addCleanup(self.set_parallel, company_id, parallel)

    def set_parallel(self, company_id, parallel):
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE res_company SET crmcom_parallel_requests = %s WHERE id = %s",
                [parallel, company_id],
            )

    def sell(self, count):
        datas = [self.order_data(1 + index % 3) for index in range(count)]
        return datas, [self.sync(data)[0] for data in datas]

    def assert_one_purchase_each(self, datas):
        for data in datas:
            posted = self.simulator.purchases(reference_number=data["name"], state="POSTED")
            self.assertEqual(len(posted), 1, data["name"])
        self.assertEqual(len(self.simulator.purchases()), len(datas), "a purchase sent twice")

    def test_the_next_chunk_failing_to_start_leaves_the_chunk_in_flight_stored(self):
        datas, order_ids = self.sell(CHUNK + 1)
        # The last order (the next chunk) cannot be prepared: its cashier's zone is
        # unknown, an error the sender does not expect. The first chunk's request
        # is in flight meanwhile (slow CRM.COM).
        [[user_id, partner_id, tz]] = self.fetch_rows(
            "SELECT u.id, p.id, p.tz FROM res_users u JOIN res_partner p ON p.id = u.partner_id"
            " WHERE u.id != %s AND u.active AND NOT u.share ORDER BY u.id LIMIT 1",
            [self.env.uid],
        )
        self._set_tz(partner_id, "Nowhere/Atlantis")
        self.addCleanup(self._set_tz, partner_id, tz)
        with self.registry.cursor() as cr:
            cr.execute("UPDATE pos_order SET user_id = %s WHERE id = %s", [user_id, order_ids[-1]])
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=0.3, times=None))
        with self.assertRaisesRegex(Exception, "Nowhere/Atlantis"):
            self.run_worker()
        # The chunk in flight was stored and committed all the same, each once; the
        # failed chunk's transaction left nothing behind: not counted, not sent.
        states = self.order_states(order_ids)
        self.assertEqual({states[order_id] for order_id in order_ids[:CHUNK]}, {"sent"})
        self.assertEqual(states[order_ids[-1]], "pending")
        [[attempts]] = self.fetch_rows(
            "SELECT crmcom_attempts FROM pos_order WHERE id = %s", [order_ids[-1]]
        )
        self.assertFalse(attempts)
        self.assertEqual(self.simulator.call_count(CREATE), CHUNK)
        self._set_tz(partner_id, tz)
        self.drain()
        self.assertEqual(set(self.order_states(order_ids).values()), {"sent"})
        self.assert_one_purchase_each(datas)
        self.assertEqual(self.simulator.call_count(CREATE), CHUNK + 1)

    def _set_tz(self, partner_id, tz):
        with self.registry.cursor() as cr:
            cr.execute("UPDATE res_partner SET tz = %s WHERE id = %s", [tz, partner_id])

    def test_a_worker_dying_with_two_chunks_in_flight_sends_nothing_twice(self):
        datas, order_ids = self.sell(2 * CHUNK)
        # Slow creates: both chunks are claimed, counted, committed and locked
        # again, their requests queued, before the first answer comes back.
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=0.5, times=None))
        outcome = {}

        def worker():
            try:
                outcome["handled"] = self.run_worker()
            except Exception as error:  # the worker's database is gone: it fails
                outcome["error"] = error

        thread = threading.Thread(target=worker, daemon=True)
        # The failed queries of the dead connections are logged as errors.
        with mute_logger("odoo.sql_db"):
            thread.start()
            # The worker "dies": both of its transactions are lost (their
            # connections killed) while each chunk holds its rows and awaits its
            # answers.
            holders = self.wait_for_two_chunks_in_flight(order_ids)
            self.fetch_rows("SELECT pg_terminate_backend(pid) FROM unnest(%s) pid", [holders])
            thread.join(THREAD_TIMEOUT)
        self.assertFalse(thread.is_alive(), "the worker is stuck")
        self.assertIn("error", outcome)
        # What reached CRM.COM meanwhile is there once; the orders forgot it.
        self.assertEqual(set(self.order_states(order_ids).values()), {"pending"})
        self.simulator.clear_faults()
        # The lease ends (made due now): the next worker looks every order up.
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE pos_order SET crmcom_next_attempt_at ="
                " now() at time zone 'UTC' - interval '1 second' WHERE id = ANY(%s)",
                [order_ids],
            )
        self.drain()
        self.assertEqual(set(self.order_states(order_ids).values()), {"sent"})
        # Each order looked up once; created once in all (before or after the death).
        self.assertEqual(self.simulator.call_count(LOOKUP), 2 * CHUNK)
        self.assertEqual(self.simulator.call_count(CREATE), 2 * CHUNK)
        self.assert_one_purchase_each(datas)
        stored = self.fetch_rows(
            "SELECT crmcom_purchase_id FROM pos_order WHERE id = ANY(%s)", [order_ids]
        )
        self.assertEqual({row[0] for row in stored}, {p["id"] for p in self.simulator.purchases()})

    def test_threads_take_turns_quickly_while_a_sender_runs(self):
        # The answers in flight are read within half a millisecond of their arrival,
        # while senders run; then the process switches as it did before.
        before = sys.getswitchinterval()
        self.assertGreater(before, sender.THREAD_SWITCH_INTERVAL)
        datas, _order_ids = self.sell(CHUNK)
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=0.5, times=None))
        worker = threading.Thread(target=self.run_worker, daemon=True)
        seen = set()
        # A second sender of the process (another cron thread) overlaps the first.
        with sender._quick_thread_switches():
            worker.start()
            deadline = time.monotonic() + THREAD_TIMEOUT
            while worker.is_alive() and time.monotonic() < deadline:
                seen.add(sys.getswitchinterval())
                time.sleep(0.01)
            worker.join(THREAD_TIMEOUT)
            self.assertFalse(worker.is_alive(), "the worker is stuck")
            # The other sender still runs: still quick.
            self.assertEqual(sys.getswitchinterval(), sender.THREAD_SWITCH_INTERVAL)
        self.assertEqual(seen, {sender.THREAD_SWITCH_INTERVAL})
        self.assertEqual(sys.getswitchinterval(), before)
        self.assert_one_purchase_each(datas)

    def wait_for_two_chunks_in_flight(self, order_ids):
        """The two backends of this database (but the asking one) that hold rows of
        pos_order locked FOR UPDATE, once every order's attempt is committed (both
        chunks are locked again, their requests queued)."""
        deadline = time.monotonic() + THREAD_TIMEOUT
        while time.monotonic() < deadline:
            [[counted]] = self.fetch_rows(
                "SELECT count(*) FROM pos_order WHERE id = ANY(%s) AND crmcom_attempts = 1",
                [order_ids],
            )
            pids = [
                pid
                for (pid,) in self.fetch_rows(
                    """SELECT DISTINCT lock.pid
                         FROM pg_locks lock
                         JOIN pg_class rel ON rel.oid = lock.relation
                         JOIN pg_stat_activity activity ON activity.pid = lock.pid
                        WHERE rel.relname = 'pos_order' AND lock.mode = 'RowShareLock'
                          AND activity.datname = current_database()
                          AND lock.pid != pg_backend_pid()"""
                )
            ]
            if counted == len(order_ids) and len(pids) == 2:
                return pids
            time.sleep(0.02)
        self.fail("the two chunks were never in flight together")
