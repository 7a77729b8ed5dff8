from decimal import Decimal

from odoo.tests import tagged

from ..crmcom_simulator import Fault
from .common import ALICE, CrmcomPosCase


@tagged("post_install", "-at_install")
class TestCrmcomOrderRefund(CrmcomPosCase):
    """Refund policy (README): a refund cancels the purchase; the items kept are
    sent again as a new purchase, and the redemption the customer keeps is spent
    again on it. Awards of returned goods are reversed; the wallet gets back only
    what the till kept back from the cash refund (the redemption share of the
    returned goods)."""

    def wallet(self):
        return self.simulator.wallet_balance(ALICE["number"])

    def posted(self):
        return sorted(
            (p for p in self.simulator.purchases() if p["life_cycle_state"] == "POSTED"),
            key=lambda p: p["number"],
        )

    def drain_all(self):
        while self.drain():
            pass

    def paid_with_redemption(self, amount):
        """Five coffees (20.00) with ``amount`` of rewards spent at the till."""
        data = self.create_ui_order_data([(self.coffee, 5)], customer=self.alice)
        data.update(state="draft", payment_ids=[], amount_paid=0)
        order = self.env["pos.order"].browse(
            self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        )
        answer = self.env["crmcom.rewards"].spend_order(self.config.id, order.uuid, amount)
        self.assertTrue(answer["ok"], answer)
        self.redemption.lst_price = -answer["redemption_amount"]
        self.pay_draft(order, [(self.coffee, 5), (self.redemption, 1)])
        self.assertEqual(order.state, "paid")
        self.assertEqual(len(order.lines), 2)
        return order

    def setUp(self):
        super().setUp()
        self.redemption = self.env.ref("pos_crmcom_rewards.product_crmcom_redemption")

    def test_partial_refund_sends_the_kept_items_again(self):
        order = self.sell([(self.coffee, 5)])  # 20.00, award 3.00
        self.drain_all()
        self.assertEqual(self.wallet(), Decimal("23.00"))
        refund = self.sell_refund(order, {self.coffee: 2})
        self.assertEqual(refund.crmcom_state, "none")
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["reference_number"], f"{order.pos_reference}/2")
        self.assertEqual(kept["total_amount"], Decimal("12.00"))
        self.assertEqual(order.crmcom_purchase_id, kept["id"])
        self.assertEqual(order.crmcom_state, "sent")
        # Awards of the returned coffees reversed: 20 + 15% of 12.00.
        self.assertEqual(self.wallet(), Decimal("21.80"))
        self.assertEqual(len(self.simulator.purchases()), 2)

    def test_two_partial_refunds(self):
        order = self.sell([(self.coffee, 5)])
        self.drain_all()
        self.sell_refund(order, {self.coffee: 2})
        self.drain_all()
        self.sell_refund(order, {self.coffee: 2})
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["reference_number"], f"{order.pos_reference}/3")
        self.assertEqual(kept["total_amount"], Decimal("4.00"))
        self.assertEqual(self.wallet(), Decimal("20.60"))
        self.sell_refund(order, {self.coffee: 1})  # the last one: a full refund now
        self.drain_all()
        self.assertEqual(self.posted(), [])
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertEqual(self.wallet(), Decimal("20.00"))

    def test_partial_refund_keeps_the_kept_share_of_the_redemption(self):
        order = self.paid_with_redemption(5)
        self.assertEqual(self.wallet(), Decimal("18.00"))  # 20 + 3 - 5
        # Two of five coffees back: 8.00 returned, the till keeps back the
        # redemption share 5 x 8/20 = 2.00 for the wallet and pays 6.00 in cash.
        red_line = order.lines.filtered(lambda line: line.product_id == self.redemption)
        coffee_line = order.lines.filtered(lambda line: line.product_id == self.coffee)
        data = self.create_ui_order_data(
            [
                {"product": self.coffee, "quantity": -2,
                 "refunded_orderline_id": coffee_line.id},
                {"product": self.redemption, "quantity": -0.4,
                 "refunded_orderline_id": red_line.id},
            ],
            customer=self.alice,
        )
        refund = self.env["pos.order"].browse(
            self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        )
        self.assertAlmostEqual(refund.amount_total, -6.0)
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["total_amount"], Decimal("12.00"))
        self.assertEqual(kept["total_spend_amount"], Decimal("3.00"))
        self.assertEqual(order.crmcom_redemption_amount, 3.0)
        self.assertFalse(order.crmcom_last_error)
        self.assertFalse(order.crmcom_warning)
        # Cash: paid 15, got 6 back = 9 for three coffees of 12; wallet: -3 +1.80.
        self.assertEqual(self.wallet(), Decimal("18.80"))

    def test_a_refund_that_pays_the_redemption_in_cash_is_flagged(self):
        order = self.paid_with_redemption(5)
        self.sell_refund(order, {self.coffee: 5, self.redemption: 0})
        self.drain_all()
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertIn("paid back", order.crmcom_warning)

    def test_refund_while_crmcom_is_down_waits_its_turn(self):
        order = self.sell([(self.coffee, 5)])
        self.drain_all()
        self.simulator.inject(Fault(endpoint="*", kind="drop", times=None))
        self.sell_refund(order, {self.coffee: 1})
        self.drain_all()
        self.assertEqual(order.crmcom_state, "cancel_pending")
        self.assertEqual(len(self.posted()), 1)
        self.simulator.clear_faults()
        order.crmcom_next_attempt_at = order.create_date
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["total_amount"], Decimal("16.00"))
        self.assertEqual(self.wallet(), Decimal("22.40"))

    def test_refund_before_the_sale_was_sent_sends_only_the_kept_items(self):
        self.simulator.inject(Fault(endpoint="*", kind="drop", times=None))
        order = self.sell([(self.coffee, 5)])
        self.drain_all()
        self.assertEqual(order.crmcom_state, "pending")
        self.simulator.clear_faults()
        self.sell_refund(order, {self.coffee: 3})
        order.crmcom_next_attempt_at = order.create_date
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["total_amount"], Decimal("8.00"))
        self.assertEqual(len(self.simulator.purchases()), 1)
