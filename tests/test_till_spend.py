from decimal import Decimal

from odoo.tests import tagged

from ..crmcom import CrmcomClient, Purchase, PurchaseLine, TokenCache, read_purchase
from ..crmcom_simulator import Fault
from .common import ALICE, TEST_WEB_API_KEY, CrmcomPosCase, TillCalls

CREATE = "customer_events/purchases/create"
SPEND = "customer_events/spend_requests/create"


@tagged("post_install", "-at_install")
class TestCrmcomTillSpend(CrmcomPosCase):
    def draft(self, lines):
        """An order being rung up, saved as a draft the way the till syncs it."""
        data = self.create_ui_order_data(lines, customer=self.alice)
        data.update(state="draft", payment_ids=[], amount_paid=0)
        result = self.env["pos.order"].sync_from_ui([data])
        return self.env["pos.order"].browse(result["pos.order"][0]["id"])

    def preview(self, order):
        return TillCalls(self.env).preview_order(
            self.config.id,
            {
                "uuid": order.uuid,
                "partner_id": order.partner_id.id,
                "lines": [
                    {
                        "product_id": line.product_id.id,
                        "qty": line.qty,
                        "price_subtotal": line.price_subtotal,
                        "price_subtotal_incl": line.price_subtotal_incl,
                    }
                    for line in order.lines
                ],
            },
        )

    def spend(self, order, amount):
        return TillCalls(self.env).spend_order(self.config.id, order.uuid, amount)

    def test_preview_shows_award_and_spend_and_changes_nothing(self):
        order = self.draft([(self.coffee, 5)])  # 20.00 of coffee
        preview = self.preview(order)
        self.assertTrue(preview["ok"], preview)
        self.assertEqual(preview["reduction_method"], "FRONT_END_REDUCTION")
        self.assertTrue(preview["front_end"])
        # 5% of 20.00 + 10% of coffee = 3.00 (simulator's test offers)
        self.assertEqual(preview["award_amount"], 3.0)
        self.assertEqual(preview["additional_spend_amount"], 20.0)
        self.assertEqual(
            (preview["minimum_spend_amount"], preview["maximum_spend_amount"]), (1.0, 50.0)
        )
        self.assertEqual(preview["wallet_balance"], ALICE["balance"])
        self.assertEqual(self.simulator.purchases(), [])
        self.assertEqual(self.simulator.call_count("customer_events/purchases/preview"), 1)

    def test_spend_within_limits_gives_the_redemption_and_is_idempotent(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        answer = self.spend(order, 5)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual((answer["spent_amount"], answer["redemption_amount"]), (5.0, 5.0))
        self.assertFalse(answer["partial"])
        self.assertEqual(answer["award_amount"], 3.0)
        self.assertEqual(answer["wallet_after"], ALICE["balance"] + 3.0 - 5.0)
        self.assertEqual(self.simulator.wallet_balance(ALICE["number"]), Decimal("18.00"))
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(order.crmcom_redemption_amount, 5.0)
        self.assertTrue(order.crmcom_spend_number)
        # Two round trips: the preview was the till's.
        self.assertEqual(self.simulator.call_count(CREATE) + self.simulator.call_count(SPEND), 2)
        self.assertEqual(self.simulator.call_count("customer_events/purchases/preview"), 1)
        # A double click, a second tab: the same answer, nothing sent again.
        self.assertEqual(self.spend(order, 5), answer)
        self.assertEqual(self.spend(order, 7)["redemption_amount"], 5.0)
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(self.simulator.call_count(SPEND), 1)

    def test_spend_outside_the_limits_is_refused_and_sends_nothing(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        for amount, words in (
            (0.5, "at least"),
            (21, "can be spent"),
            (-1, "negative"),
            ("5", "number"),
            (1.005, "two decimals"),
            (float("nan"), "number"),
            (None, "number"),
        ):
            with self.subTest(amount=amount):
                answer = self.spend(order, amount)
                self.assertFalse(answer["ok"])
                self.assertIn(words, answer["message"])
        self.assertEqual(self.simulator.call_count(CREATE), 0)
        self.assertEqual(order.crmcom_state, "none")
        unknown = TillCalls(self.env).spend_order(self.config.id, "no-such-order", 5)
        self.assertFalse(unknown["ok"])

    def test_spend_above_the_amount_due_is_refused(self):
        order = self.draft([(self.coffee, 2)])  # 8.00
        preview = self.preview(order)
        self.assertEqual(preview["additional_spend_amount"], 8.0)
        self.assertIn("can be spent", self.spend(order, 9)["message"])
        # A CRM.COM that offers more than the order is worth is not followed.
        self.env["crmcom.till.preview"].sudo().search([("order_uuid", "=", order.uuid)]).write(
            {"additional_spend_amount": 100}
        )
        answer = self.spend(order, 9)
        self.assertFalse(answer["ok"])
        self.assertIn("amount due", answer["message"])
        self.assertEqual(self.simulator.call_count(CREATE), 0)

    def test_crmcom_spends_less_than_asked(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        # Meanwhile Alice spends most of her wallet in another shop.
        other = CrmcomClient(
            self.simulator.base_url, web_api_key=TEST_WEB_API_KEY, token_cache=TokenCache()
        )
        elsewhere = read_purchase(
            other.create_purchase(
                Purchase(
                    customer={"number": ALICE["account_number"]},
                    unit={"alternative_code": "SHOP1"},
                    performed_on=order.date_order,
                    reference_number="ELSEWHERE-1",
                    lines=[PurchaseLine({"code": "DEFAULT"}, 30, 0, 30)],
                )
            )
        )
        other.create_spend_request(
            customer={"number": ALICE["account_number"]},
            unit={"alternative_code": "SHOP1"},
            performed_on=order.date_order,
            purchase={"id": elsewhere.id},
            spend_amount=17,
        )
        left = float(self.simulator.wallet_balance(ALICE["number"]))
        self.assertLess(left, 10)
        answer = self.spend(order, 10)
        self.assertTrue(answer["ok"], answer)
        self.assertTrue(answer["partial"])
        self.assertEqual(answer["spent_amount"], left)
        self.assertEqual(order.crmcom_redemption_amount, left)
        # Nothing left but this purchase's own award.
        self.assertEqual(
            self.simulator.wallet_balance(ALICE["number"]), Decimal(str(answer["award_amount"]))
        )

    def test_instant_spend_is_part_of_the_redemption(self):
        order = self.draft([(self.sandwich, 2)])  # 15.00 + 7% = 16.05, 20% instantly spent
        preview = self.preview(order)
        self.assertEqual(preview["instant_spend_amount"], 3.21)
        self.assertEqual(preview["automatic_redemption"], 3.21)
        answer = self.spend(order, 0)  # apply what CRM.COM spends by itself
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["redemption_amount"], 3.21)
        self.assertEqual(self.simulator.call_count(SPEND), 0)

    def test_back_end_merchant_spends_without_pos_discount(self):
        """Guide, advanced flow step 4: "If either Front-End Reduction or Back-End
        Reduction is allowed, then the reduction is submitted in CRM.COM as a spend
        request"; at a back-end till CRM.COM refunds it, the till deducts nothing."""
        self.config.crmcom_unit_value = "SHOP2"  # back-end, at most half of a purchase
        order = self.draft([(self.coffee, 5)])
        preview = self.preview(order)
        self.assertEqual(preview["reduction_method"], "BACK_END_REDUCTION")
        self.assertTrue(preview["allow_spending"])
        self.assertFalse(self.spend(order, 0)["ok"], "no 'Apply rewards' at a back-end till")
        self.assertIn("at least", self.spend(order, 1)["message"])  # SHOP2: 2.00 minimum
        answer = self.spend(order, 4)
        self.assertTrue(answer["ok"], answer)
        self.assertTrue(answer["back_end"])
        self.assertEqual((answer["spent_amount"], answer["refund_amount"]), (4.0, 4.0))
        self.assertEqual(answer["redemption_amount"], 0.0, "no discount line")
        self.assertIn("payment gateway", answer["notice"])
        self.assertEqual(answer["wallet_after"], 19.0)  # 20 + 3 - 4
        self.assertEqual(self.spend(order, 4), answer, "asked twice: spent once")
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.pay_draft(order, [(self.coffee, 5)])
        self.drain()
        self.assertFalse(order.crmcom_warning)
        self.assertEqual(self.simulator.wallet_balance(ALICE["number"]), Decimal("19.00"))
        # Two coffees back: the purchase is cancelled (the spend with it) and the three
        # kept are sent again, with no spend of ours (CRM.COM redeems by itself).
        self.sell_refund(order, {self.coffee: 2})
        while self.drain():
            pass
        posted = [p for p in self.simulator.purchases() if p["life_cycle_state"] == "POSTED"]
        self.assertEqual([p["total_amount"] for p in posted], [Decimal("12.00")])
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assertEqual(
            self.simulator.wallet_balance(ALICE["number"]),
            Decimal("20.00") + posted[0]["total_awarded_amount"] - posted[0]["total_spend_amount"],
        )
        self.assertFalse(order.crmcom_warning)

    def test_paid_order_after_spend_is_not_sent_again(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        self.spend(order, 5)
        redemption = self.env.ref("pos_crmcom_rewards.product_crmcom_redemption")
        redemption.lst_price = -5.0
        self.pay_draft(order, [(self.coffee, 5), (redemption, 1)])
        self.assertEqual(order.state, "paid")
        self.assertAlmostEqual(order.amount_total, 15.0)
        self.assertEqual(order.crmcom_state, "sent")
        self.env["pos.order"]._crmcom_cron_send(commit=False)
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_a_lost_spend_answer_is_read_from_the_purchase(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        self.simulator.inject(Fault(endpoint=SPEND, kind="drop", applied=True))
        answer = self.spend(order, 4)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["redemption_amount"], 4.0)
        self.assertEqual(len(self.simulator.spend_requests()), 1)
        self.assertEqual(self.spend(order, 4)["redemption_amount"], 4.0)
        self.assertEqual(self.simulator.call_count(SPEND), 1)

    def test_crmcom_down_at_spend_lets_the_sale_go_on(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        self.simulator.inject(Fault(endpoint=CREATE, kind="drop", applied=False, times=None))
        answer = self.spend(order, 4)
        self.assertFalse(answer["ok"])
        self.assertIn("without rewards", answer["message"])
        self.assertEqual(order.crmcom_state, "pending")
        self.assertEqual(order.crmcom_redemption_amount, 0)

    def test_old_previews_are_removed(self):
        order = self.draft([(self.coffee, 1)])
        self.preview(order)
        previews = self.env["crmcom.till.preview"].sudo()
        stored = previews.search([("order_uuid", "=", order.uuid)])
        self.assertEqual(len(stored), 1)
        self.env.cr.execute(
            "UPDATE crmcom_till_preview SET create_date = create_date - interval '2 days'"
            " WHERE id = %s",
            (stored.id,),
        )
        stored.invalidate_recordset()
        self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_till_preview_gc").method_direct_trigger()
        self.assertFalse(stored.exists())

    def test_an_order_paid_without_spending_keeps_its_receipt_figures(self):
        order = self.draft([(self.coffee, 5)])
        self.preview(order)
        self.pay_draft(order, [(self.coffee, 5)])
        self.assertEqual(order.crmcom_state, "pending")
        self.env["pos.order"]._crmcom_cron_send(commit=False)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(order.crmcom_reduction_method, "FRONT_END_REDUCTION")
        self.assertEqual(order.crmcom_wallet_before, ALICE["balance"])
        self.assertEqual(order.crmcom_awarded_amount, 3.0)
        self.assertEqual(order.crmcom_wallet_after, ALICE["balance"] + 3.0)
