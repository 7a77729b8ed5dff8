import time
from datetime import timedelta
from decimal import Decimal

from odoo import fields
from odoo.tests import tagged

from ..crmcom_simulator import Fault
from ..flows import sender
from ..models.trust import in_flow
from .common import CrmcomPosCase

CREATE = "customer_events/purchases/create"


@tagged("post_install", "-at_install")
class TestCrmcomOrderQueue(CrmcomPosCase):
    def triggers(self):
        cron = self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit")
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

    def test_a_paid_sale_is_queued_at_sync_and_sent_by_the_cron(self):
        triggers = self.triggers()
        order = self.sell([(self.coffee, 2)])
        self.assertEqual(order.crmcom_state, "pending")
        self.assertEqual(self.triggers(), triggers + 1)
        self.assertEqual(self.simulator.call_count(), 0)  # the sale did not wait
        self.assertEqual(self.drain(), 1)
        self.assertEqual(order.crmcom_state, "sent")
        [purchase] = self.simulator.purchases(reference_number=order.pos_reference)
        self.assertEqual(purchase["total_amount"], Decimal("8.00"))

    def test_the_same_order_synced_twice_is_sent_once(self):
        data = self.create_ui_order_data([(self.coffee, 1)], customer=self.alice)
        first = self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        second = self.env["pos.order"].sync_from_ui([dict(data)])["pos.order"][0]["id"]
        self.assertEqual(first, second)
        self.drain()
        self.env["pos.order"].sync_from_ui([dict(data)])
        self.drain()
        self.assertEqual(len(self.simulator.purchases()), 1)
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_orders_that_are_not_for_crmcom_are_untouched(self):
        stranger = self.sell([(self.coffee, 1)], customer=self.customer)
        self.assertEqual(stranger.crmcom_state, "none")
        self.config.crmcom_enabled = False
        off = self.sell([(self.coffee, 1)])
        self.assertEqual(off.crmcom_state, "none")
        self.drain()
        self.assertEqual(self.simulator.call_count(), 0)

    def test_the_till_cannot_write_the_crmcom_story(self):
        data = self.create_ui_order_data([(self.coffee, 1)], customer=self.alice)
        data.update(
            crmcom_state="sent",
            crmcom_redemption_amount=999.0,
            crmcom_purchase_id="FORGED",
        )
        order = self.env["pos.order"].browse(
            self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        )
        self.assertEqual(order.crmcom_state, "pending")
        self.assertEqual(order.crmcom_redemption_amount, 0)
        self.assertFalse(order.crmcom_purchase_id)

    def test_crmcom_down_keeps_the_order_pending_and_sends_it_once_back(self):
        self.simulator.inject(Fault(endpoint="*", kind="drop", times=None))
        order = self.sell([(self.coffee, 1)])
        self.drain()
        self.assertEqual(order.crmcom_state, "pending")
        self.assertTrue(order.crmcom_last_error)
        self.assertGreater(order.crmcom_next_attempt_at, fields.Datetime.now())
        self.assertEqual(self.drain(), 0)  # not due yet
        self.simulator.clear_faults()
        in_flow(order).crmcom_next_attempt_at = fields.Datetime.now()
        self.assertEqual(self.drain(), 1)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)

    def test_a_time_out_after_crmcom_applied_the_purchase_is_not_sent_twice(self):
        self.company.crmcom_read_timeout = 0.3
        self.simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=1.0))
        order = self.sell([(self.coffee, 1)])
        self.drain()
        self.assertEqual(order.crmcom_state, "pending")
        self.assertIn("in time", order.crmcom_last_error)
        # Let the simulator finish what the client gave up waiting for.
        deadline = fields.Datetime.now() + timedelta(seconds=5)
        while not self.simulator.purchases() and fields.Datetime.now() < deadline:
            time.sleep(0.05)
        in_flow(order).crmcom_next_attempt_at = fields.Datetime.now()
        self.drain()
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_a_worker_dying_after_crmcom_answered_does_not_send_twice(self):
        order = self.sell([(self.coffee, 1)])
        # The worker sends the purchase, then dies before its transaction commits:
        # everything it wrote is rolled back, except the attempt it committed
        # before calling CRM.COM (the scheduled sender does it for every chunk).
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            sender.send_now(in_flow(order))
            raise RuntimeError("worker killed")
        order.invalidate_recordset()
        self.assertEqual(order.crmcom_state, "pending")
        self.assertEqual(len(self.simulator.purchases()), 1)
        in_flow(order).write(
            {"crmcom_attempts": 1, "crmcom_first_attempt_at": fields.Datetime.now()}
        )
        self.drain()
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_a_backlog_is_sent_with_several_requests_in_flight(self):
        self.company.crmcom_parallel_requests = 3
        orders = self.env["pos.order"].union(*(self.sell([(self.coffee, 1)]) for _ in range(7)))
        self.simulator.set_latency(0.3)
        self.assertEqual(self.drain(), 7)
        self.assertEqual(set(orders.mapped("crmcom_state")), {"sent"})
        # In parallel, but never more at once than the setting allows.
        self.assertGreater(self.simulator.peak_in_flight, 1)
        self.assertLessEqual(self.simulator.peak_in_flight, 3)
        for order in orders:
            self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)
            # The calls made by the worker threads are in the order's log.
            [create] = order.crmcom_log_ids.filtered(lambda entry: entry.operation == CREATE)
            self.assertTrue(create.success)

    def test_one_request_at_a_time_when_crmcom_asks_for_it(self):
        self.company.crmcom_parallel_requests = 1
        orders = self.env["pos.order"].union(*(self.sell([(self.coffee, 1)]) for _ in range(3)))
        self.simulator.set_latency(0.2)
        self.assertEqual(self.drain(), 3)
        self.assertEqual(set(orders.mapped("crmcom_state")), {"sent"})
        self.assertEqual(self.simulator.peak_in_flight, 1)

    def test_a_failure_among_parallel_requests_touches_only_its_order(self):
        self.company.crmcom_parallel_requests = 4
        orders = self.env["pos.order"].union(*(self.sell([(self.coffee, 1)]) for _ in range(4)))
        self.simulator.inject(
            Fault(endpoint=CREATE, kind="error", code="NOT_ALLOWED", message="Unit closed", times=1)
        )
        self.assertEqual(self.drain(), 4)
        [refused] = orders.filtered(lambda order: order.crmcom_state != "sent")
        self.assertEqual(refused.crmcom_state, "failed")  # refused by CRM.COM: not retried
        self.assertIn("Unit closed", refused.crmcom_last_error)
        self.assertEqual(len(self.simulator.purchases()), 3)
