import functools
from decimal import Decimal

from odoo.tests import tagged

from ..crmcom_simulator import Fault
from ..flows import refund as refund_flow
from ..models.trust import in_flow
from .common import ALICE, CrmcomPosCase, TillCalls


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
        answer = TillCalls(self.env).spend_order(self.config.id, order.uuid, amount)
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
                {"product": self.coffee, "quantity": -2, "refunded_orderline_id": coffee_line.id},
                {
                    "product": self.redemption,
                    "quantity": -0.4,
                    "refunded_orderline_id": red_line.id,
                },
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

    def refund_with_share(self, order, coffees, share_qty=0.0, share_amount=0.0):
        """A refund of ``coffees`` coffees of ``order`` that keeps back
        ``share_amount`` of its redemption on a line of quantity -``share_qty``
        refunding the redemption line (what the till's refund screen adds)."""
        coffee_line = order.lines.filtered(lambda line: line.product_id == self.coffee)
        lines = [
            {"product": self.coffee, "quantity": -coffees, "refunded_orderline_id": coffee_line.id}
        ]
        if share_qty:
            red_line = order.lines.filtered(lambda line: line.product_id == self.redemption)
            lines.append(
                {
                    "product": self.redemption,
                    "quantity": -share_qty,
                    "refunded_orderline_id": red_line.id,
                }
            )
        data = self.create_ui_order_data(lines, customer=self.alice)
        if share_qty:
            share_line = data["lines"][1][2]
            share_line.update(
                price_unit=-share_amount / share_qty,
                price_subtotal=share_amount,
                price_subtotal_incl=share_amount,
            )
            total = sum(line[2]["price_subtotal_incl"] for line in data["lines"])
            data.update(amount_total=total, amount_paid=total)
            data["payment_ids"][0][2]["amount"] = total
        refund = self.env["pos.order"].browse(
            self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        )
        self.assertAlmostEqual(refund.amount_total, -4.0 * coffees + share_amount)
        return refund

    def test_successive_refunds_keep_back_shares_that_add_up_to_the_redemption(self):
        order = self.paid_with_redemption(5)  # 20.00 - 5.00
        self.assertEqual(self.wallet(), Decimal("18.00"))
        # Shares: 5 x 4/20 = 1.00, then 5 x 12/20 - 1.00 = 2.00, then the rest, 2.00.
        for coffees, share_qty, share, kept_total, spent_again in (
            (1, 0.2, 1.0, Decimal("16.00"), Decimal("4.00")),
            (2, 0.4, 2.0, Decimal("8.00"), Decimal("2.00")),
        ):
            refund = self.refund_with_share(order, coffees, share_qty, share)
            self.assertFalse(refund.crmcom_warning)
            self.drain_all()
            [kept] = self.posted()
            self.assertEqual(kept["total_amount"], kept_total)
            self.assertEqual(kept["total_spend_amount"], spent_again)
            self.assertFalse(order.crmcom_warning)
        refund = self.refund_with_share(order, 2, 0.4, 2.0)
        self.assertFalse(refund.crmcom_warning)
        self.drain_all()
        self.assertEqual(self.posted(), [])
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertFalse(order.crmcom_warning)
        self.assertEqual(self.wallet(), Decimal("20.00"), "every reward back, no award kept")
        self.assertEqual(order._crmcom_redemption_to_keep(), 0.0)

    def test_the_share_is_rounded_like_the_currency(self):
        order = self.paid_with_redemption(5)
        coffee_line = order.lines.filtered(lambda line: line.product_id == self.coffee)
        share = functools.partial(refund_flow.redemption_share, order)
        self.assertEqual(share({coffee_line: 1}), 1.0)
        # Three coffees of 4.00 sold with 5.00 redeemed: a third is 1.666… -> 1.67.
        in_flow(coffee_line).write({"qty": 3, "price_subtotal": 12.0, "price_subtotal_incl": 12.0})
        self.assertEqual(share({coffee_line: 1}), 1.67)
        self.assertEqual(share({coffee_line: 2}), 3.33)
        self.assertEqual(share({coffee_line: 3}), 5.0)

    def test_a_partial_refund_without_the_share_is_flagged(self):
        order = self.paid_with_redemption(5)
        refund = self.refund_with_share(order, 2)  # 8.00 back in cash, nothing kept back
        self.assertIn("paid back", refund.crmcom_warning)
        self.assertIn("2.00", refund.crmcom_warning)
        self.drain_all()
        [kept] = self.posted()
        # The customer keeps the whole redemption on the three coffees kept.
        self.assertEqual(kept["total_spend_amount"], Decimal("5.00"))
        self.assertIn(refund.crmcom_warning, order.crmcom_warning)

    def test_a_refund_keeping_back_more_than_the_share_is_flagged(self):
        order = self.paid_with_redemption(5)
        refund = self.refund_with_share(order, 2, 0.6, 3.0)
        self.assertIn("kept back", refund.crmcom_warning)
        self.assertIn("1.00", refund.crmcom_warning)
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["total_spend_amount"], Decimal("2.00"))
        self.assertIn(refund.crmcom_warning, order.crmcom_warning)

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
        in_flow(order).crmcom_next_attempt_at = order.create_date
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
        in_flow(order).crmcom_next_attempt_at = order.create_date
        self.drain_all()
        [kept] = self.posted()
        self.assertEqual(kept["total_amount"], Decimal("8.00"))
        self.assertEqual(len(self.simulator.purchases()), 1)
