from decimal import Decimal

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..crmcom_simulator import Fault
from ..models.trust import in_flow
from .common import ALICE, CrmcomPosCase, TillCalls

CANCEL = "customer_events/purchases/cancel"


@tagged("post_install", "-at_install")
class TestCrmcomOrderCancel(CrmcomPosCase):
    def draft_with_redemption(self, amount=5):
        data = self.create_ui_order_data([(self.coffee, 5)], customer=self.alice)
        data.update(state="draft", payment_ids=[], amount_paid=0)
        order = self.env["pos.order"].browse(
            self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        )
        answer = TillCalls(self.env).spend_order(self.config.id, order.uuid, amount)
        self.assertTrue(answer["ok"], answer)
        return order

    def wallet(self):
        return self.simulator.wallet_balance(ALICE["number"])

    def test_an_abandoned_order_cancels_its_purchase(self):
        order = self.draft_with_redemption()
        self.assertEqual(self.wallet(), Decimal("18.00"))  # 20 + 3 awarded - 5 spent
        order.action_pos_order_cancel()  # what the till calls when the order is deleted
        self.assertEqual(order.crmcom_state, "cancel_pending")
        self.drain()
        self.assertEqual(order.crmcom_state, "cancelled")
        [purchase] = self.simulator.purchases()
        self.assertEqual(purchase["life_cycle_state"], "CANCELLED")
        self.assertEqual(self.wallet(), Decimal("20.00"))

    def test_a_full_refund_cancels_the_purchase_and_is_not_sent(self):
        order = self.sell([(self.coffee, 5)])
        self.drain()
        self.assertEqual(self.wallet(), Decimal("23.00"))
        refund = self.sell_refund(order)
        self.assertEqual(refund.crmcom_state, "none")
        self.assertEqual(order.crmcom_state, "cancel_pending")
        self.drain()
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertEqual(self.wallet(), Decimal("20.00"))
        self.assertEqual(len(self.simulator.purchases()), 1)
        self.assertEqual(self.simulator.call_count(CANCEL), 1)

    def test_a_cancellation_answer_lost_is_found_cancelled(self):
        order = self.sell([(self.coffee, 2)])
        self.drain()
        self.simulator.inject(Fault(endpoint=CANCEL, kind="drop", applied=True))
        order.action_pos_order_cancel()  # paid orders are not cancelled by the till
        self.assertEqual(order.crmcom_state, "sent")
        in_flow(order)._crmcom_queue_cancel()
        self.drain()
        self.assertEqual(order.crmcom_state, "cancel_pending")
        self.assertIn("broke", order.crmcom_last_error)
        in_flow(order).crmcom_next_attempt_at = order.create_date
        self.drain()
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertEqual(self.wallet(), Decimal("20.00"))

    def test_cancellation_waits_for_crmcom_and_never_gives_up(self):
        self.company.crmcom_max_attempts = 1
        order = self.sell([(self.coffee, 2)])
        self.drain()
        self.simulator.inject(Fault(endpoint="*", kind="drop", times=None))
        in_flow(order)._crmcom_queue_cancel()
        for _attempt in range(3):
            in_flow(order).crmcom_next_attempt_at = order.create_date
            self.drain()
            self.assertEqual(order.crmcom_state, "cancel_pending")
        self.simulator.clear_faults()
        in_flow(order).crmcom_next_attempt_at = order.create_date
        self.drain()
        self.assertEqual(order.crmcom_state, "cancelled")

    def test_an_order_with_a_purchase_cannot_be_deleted(self):
        order = self.draft_with_redemption()
        with self.assertRaises(UserError):
            order.unlink()
        self.assertTrue(order.exists())

    def test_cancel_redemption_then_redeem_again(self):
        order = self.draft_with_redemption(5)
        answer = TillCalls(self.env).cancel_order_rewards(self.config.id, order.uuid)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(order.crmcom_state, "none")
        self.assertEqual(order.crmcom_redemption_amount, 0)
        self.assertEqual(self.wallet(), Decimal("20.00"))
        again = TillCalls(self.env).spend_order(self.config.id, order.uuid, 4)
        self.assertTrue(again["ok"], again)
        first, second = sorted(self.simulator.purchases(), key=lambda p: p["number"])
        self.assertEqual(first["life_cycle_state"], "CANCELLED")
        self.assertEqual(second["life_cycle_state"], "POSTED")
        self.assertEqual(second["reference_number"], f"{order.pos_reference}/2")
        self.assertEqual(self.wallet(), Decimal("19.00"))  # 20 + 3 - 4

    def test_cancel_redemption_when_crmcom_refuses_keeps_the_order_as_it_is(self):
        order = self.draft_with_redemption(5)
        self.simulator.inject(Fault(endpoint=CANCEL, kind="error", code="BUSY", times=None))
        self.simulator.inject(
            Fault(endpoint="customer_events/purchases/show", kind="error", code="BUSY", times=None)
        )
        answer = TillCalls(self.env).cancel_order_rewards(self.config.id, order.uuid)
        self.assertFalse(answer["ok"])
        self.assertIn("could not cancel", answer["message"])
        self.assertEqual(order.crmcom_redemption_amount, 5)
        self.assertEqual(order.crmcom_state, "sent")  # paying it now is right
        self.assertEqual(self.wallet(), Decimal("18.00"))

    def test_cancel_redemption_unconfirmed_asks_to_ring_up_again(self):
        order = self.draft_with_redemption(5)
        self.simulator.inject(Fault(endpoint=CANCEL, kind="drop", applied=True))
        self.simulator.inject(
            Fault(endpoint="customer_events/purchases/show", kind="drop", times=None)
        )
        answer = TillCalls(self.env).cancel_order_rewards(self.config.id, order.uuid)
        self.assertFalse(answer["ok"])
        self.assertIn("ring it up again", answer["message"])
        self.assertEqual(order.crmcom_state, "cancel_pending")
        order.action_pos_order_cancel()
        self.simulator.clear_faults()
        in_flow(order).crmcom_next_attempt_at = order.create_date
        self.drain()
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertEqual(self.wallet(), Decimal("20.00"))
