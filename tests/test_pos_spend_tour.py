# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The cashier previews and spends CRM.COM rewards (guide, advanced flow 2-5).

POS tours in headless Chromium (static/tests/tours/crmcom_spend_tour.js) against
the CRM.COM simulator over real HTTP; each test then checks the database (the
paid order, its discount line, its CRM.COM fields) and what reached the
simulator (purchases, spend requests, wallet).
"""

import copy
import json
from decimal import Decimal

from odoo.tests import tagged

# Import the module, not the class: a TestCase class imported into this
# module's namespace would be collected again by pytest.
from odoo.addons.point_of_sale.tests import test_frontend

from ..crmcom_simulator import Fault, Simulator
from ..crmcom_simulator.scenario import SCENARIO_DIR
from .common import ALICE, CrmcomSimulatorMixin

PREVIEW = "customer_events/purchases/preview"
CREATE = "customer_events/purchases/create"
SPEND = "customer_events/spend_requests/create"
CANCEL = "customer_events/purchases/cancel"

# A front-end shop of the test scenario where CRM.COM spends at most half of a
# purchase (a merchant condition the preview does not show): the guide's "actual
# amount spent ... may be different than the amount requested".
HALF_SPEND_SHOP = {
    "id": "10000000000000000000000000000003",
    "name": "Test Half Shop",
    "alternative_code": "SHOP3",
    "reduction_method": "FRONT_END_REDUCTION",
    "allow_automatic_spend": True,
    "max_spend_ratio": 0.5,
}


def _scenario():
    scenario = json.loads((SCENARIO_DIR / "test.json").read_text(encoding="utf-8"))
    scenario = copy.deepcopy(scenario)
    scenario["units"].append(HALF_SPEND_SHOP)
    return scenario


@tagged("post_install", "-at_install")
class TestPosSpendTour(CrmcomSimulatorMixin, test_frontend.TestPointOfSaleHttpCommon):
    @classmethod
    def start_simulator(cls):
        cls.simulator = Simulator(_scenario()).start()
        cls.addClassCleanup(cls.simulator.stop)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.company = cls.main_pos_config.company_id
        # Products without a CRM.COM code of their own are sent as DEFAULT.
        cls.configure_company(cls.company, crmcom_fallback_product_code="DEFAULT")
        cls.main_pos_config.write(
            {
                "crmcom_enabled": True,
                "crmcom_unit_key": "alternative_code",
                "crmcom_unit_value": "SHOP1",
            }
        )
        products = cls.env["product.product"]
        cls.coffee = products.create(
            {
                "name": "Coffee",
                "default_code": "COFFEE",
                "available_in_pos": True,
                "list_price": 4.0,
                "taxes_id": False,
            }
        )
        cls.sandwich = products.create(
            {
                "name": "Sandwich",
                "crmcom_product_code": "SANDWICH",
                "available_in_pos": True,
                "list_price": 7.5,
                "taxes_id": False,
            }
        )
        cls.redemption_product = cls.env.ref("pos_crmcom_rewards.product_crmcom_redemption")

    # ------------------------------------------------------------- helpers

    def run_tour(self, tour):
        """Open a session and play ``tour``; returns the session's orders."""
        config = self.main_pos_config
        config.with_user(self.pos_user).open_ui()
        session = config.current_session_id
        self.assertTrue(session, "no POS session was opened")
        # self.start_tour() literally, so that Odoo tags the test `is_tour`.
        self.start_tour(self._get_url(), tour, login="pos_user", timeout=240)
        return self.env["pos.order"].search([("session_id", "=", session.id)])

    def requested_spends(self):
        """The spend requests the till asked for (not instant / automatic spend)."""
        return [
            spend
            for spend in self.simulator.spend_requests()
            if not spend["instant_spend"] and not spend["automatic_spend"]
        ]

    def spent(self, spend):
        transaction = spend["spend_reward_transaction"]
        return transaction.get("amount", transaction.get("total_amount"))

    def wallet(self):
        return self.simulator.wallet_balance(ALICE["number"])

    def redemption_lines(self, order):
        return order.lines.filtered(lambda line: line.product_id == self.redemption_product)

    def assert_discount_line(self, order, amount):
        line = self.redemption_lines(order)
        self.assertEqual(len(line), 1, "exactly one CRM.COM discount line")
        self.assertEqual(line.qty, 1)
        self.assertAlmostEqual(line.price_unit, -amount, places=2)
        self.assertAlmostEqual(line.price_subtotal_incl, -amount, places=2)
        self.assertFalse(line.tax_ids, "the discount line carries no tax")

    def paid_order(self, orders):
        self.assertEqual(len(orders), 1)
        self.assertEqual(orders.state, "paid")
        self.assertEqual(orders.partner_id.crmcom_participant_id, ALICE["id"])
        return orders

    def run_cron(self):
        self.env["pos.order"]._crmcom_cron_send(commit=False)

    # --------------------------------------------------------------- tests

    def test_preview_panel_then_spend_within_limits_and_receipt(self):
        order = self.paid_order(self.run_tour("pos_crmcom_spend_within_limits"))

        self.assertAlmostEqual(order.amount_total, 15.0)
        self.assert_discount_line(order, 5.0)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(order.crmcom_reduction_method, "FRONT_END_REDUCTION")
        self.assertAlmostEqual(order.crmcom_redemption_amount, 5.0)
        self.assertAlmostEqual(order.crmcom_awarded_amount, 3.0)
        self.assertAlmostEqual(order.crmcom_wallet_after, 18.0)

        purchases = self.simulator.purchases()
        self.assertEqual(len(purchases), 1)
        self.assertEqual(purchases[0]["reference_number"], order.pos_reference)
        self.assertEqual(purchases[0]["life_cycle_state"], "POSTED")
        self.assertEqual(
            purchases[0]["total_amount"], Decimal("20.00"), "sent without the discount"
        )
        spends = self.requested_spends()
        self.assertEqual(len(spends), 1)
        self.assertEqual(self.spent(spends[0]), Decimal("5.00"))
        self.assertEqual(self.wallet(), Decimal("18.00"))
        # One preview for the panel (the spend used it), no flood.
        self.assertEqual(self.simulator.call_count(PREVIEW), 1)
        # Paid after its spend: never sent twice.
        self.run_cron()
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(len(self.simulator.purchases()), 1)

    def test_spend_outside_limits_is_refused_in_the_browser(self):
        order = self.paid_order(self.run_tour("pos_crmcom_spend_refused"))

        self.assertAlmostEqual(order.amount_total, 20.0)
        self.assertFalse(self.redemption_lines(order))
        self.assertEqual(self.simulator.call_count(CREATE), 0, "nothing sent at the till")
        self.assertEqual(self.simulator.call_count(SPEND), 0)
        self.assertEqual(self.wallet(), Decimal("20.00"))
        # Paid without a spend: the server submits the purchase after the sale.
        self.assertEqual(order.crmcom_state, "pending")
        self.run_cron()
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.simulator.purchases(order.pos_reference)), 1)
        self.assertEqual(self.simulator.spend_requests(), [])

    def test_crmcom_spends_less_than_asked(self):
        self.main_pos_config.crmcom_unit_value = "SHOP3"
        order = self.paid_order(self.run_tour("pos_crmcom_spend_partial"))

        self.assertAlmostEqual(order.amount_total, 10.0)
        self.assert_discount_line(order, 10.0)
        self.assertAlmostEqual(order.crmcom_redemption_amount, 10.0)
        self.assertAlmostEqual(order.crmcom_wallet_after, 13.0)
        spends = self.requested_spends()
        self.assertEqual(len(spends), 1)
        self.assertEqual(spends[0]["spend_amount"], Decimal("15.00"), "asked")
        self.assertEqual(self.spent(spends[0]), Decimal("10.00"), "really spent")
        self.assertEqual(self.wallet(), Decimal("13.00"))

    def test_back_end_merchant_gets_no_pos_discount(self):
        self.main_pos_config.crmcom_unit_value = "SHOP2"
        order = self.paid_order(self.run_tour("pos_crmcom_spend_back_end"))

        self.assertAlmostEqual(order.amount_total, 20.0)
        self.assertFalse(self.redemption_lines(order))
        self.assertEqual(self.simulator.call_count(CREATE), 0)
        self.assertEqual(order.crmcom_state, "pending")
        self.run_cron()
        purchases = self.simulator.purchases()
        self.assertEqual(len(purchases), 1)
        self.assertEqual(purchases[0]["reference_number"], order.pos_reference)
        self.assertEqual(purchases[0]["life_cycle_state"], "POSTED")
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(self.requested_spends(), [])

    def test_back_end_merchant_spend_is_refunded_by_crmcom(self):
        self.main_pos_config.crmcom_unit_value = "SHOP2"
        order = self.paid_order(self.run_tour("pos_crmcom_spend_back_end_refund"))

        self.assertAlmostEqual(order.amount_total, 20.0, msg="no discount at the till")
        self.assertFalse(self.redemption_lines(order))
        self.assertEqual(order.crmcom_reduction_method, "BACK_END_REDUCTION")
        self.assertEqual(order.crmcom_state, "sent")
        self.assertAlmostEqual(order.crmcom_additional_spend_amount, 4.0)
        self.assertAlmostEqual(order.crmcom_redemption_amount, 0.0)
        self.assertFalse(order.crmcom_warning)
        spends = self.requested_spends()
        self.assertEqual(len(spends), 1)
        self.assertEqual(self.spent(spends[0]), Decimal("4.00"))
        self.assertEqual(self.wallet(), Decimal("19.00"))  # 20 + 3 - 4
        self.assertAlmostEqual(order.crmcom_wallet_after, 19.0)
        self.run_cron()  # nothing more to send
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(self.simulator.call_count(SPEND), 1)

    def test_instant_spend_must_be_applied_before_payment(self):
        order = self.paid_order(self.run_tour("pos_crmcom_spend_apply_instant"))

        self.assertAlmostEqual(order.amount_total, 12.0)
        self.assert_discount_line(order, 3.0)
        self.assertAlmostEqual(order.crmcom_redemption_amount, 3.0)
        self.assertAlmostEqual(order.crmcom_instant_spend_amount, 3.0)
        self.assertAlmostEqual(order.crmcom_wallet_after, 20.75)
        purchases = self.simulator.purchases()
        self.assertEqual(len(purchases), 1)
        self.assertEqual(purchases[0]["total_instant_spend_amount"], Decimal("3.00"))
        self.assertEqual(self.requested_spends(), [], "nothing asked beyond the instant spend")
        self.assertEqual(self.wallet(), Decimal("20.75"))
        self.run_cron()
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_abandoned_order_gives_the_rewards_back(self):
        orders = self.run_tour("pos_crmcom_spend_abandon")

        self.assertEqual(len(orders), 1)
        order = orders
        self.assertEqual(order.state, "cancel")
        self.assertEqual(order.crmcom_state, "cancel_pending")
        self.assertEqual(self.wallet(), Decimal("18.00"), "spent until the cancellation")
        self.run_cron()
        self.assertEqual(order.crmcom_state, "cancelled")
        purchases = self.simulator.purchases()
        self.assertEqual(len(purchases), 1)
        self.assertEqual(purchases[0]["reference_number"], order.pos_reference)
        self.assertEqual(purchases[0]["life_cycle_state"], "CANCELLED")
        self.assertEqual(self.wallet(), Decimal("20.00"), "wallet back to its balance before")

    def test_cancel_redemption_then_change_and_redeem_again(self):
        order = self.paid_order(self.run_tour("pos_crmcom_spend_cancel_and_redeem_again"))

        self.assertAlmostEqual(order.amount_total, 19.0)
        self.assert_discount_line(order, 5.0)
        self.assertEqual(
            sum(order.lines.filtered(lambda line: line.product_id == self.coffee).mapped("qty")), 6
        )
        # One purchase cancelled; the second purchase of the order is sent as
        # "<order reference>/2" (flows/till.cancel_redemption).
        self.assertEqual(order.crmcom_sequence, 1)
        second_reference = f"{order.pos_reference}/2"
        self.assertEqual(order.crmcom_reference, second_reference)
        purchases = self.simulator.purchases()
        self.assertEqual(len(purchases), 2)
        first, second = purchases
        self.assertEqual(first["reference_number"], order.pos_reference)
        self.assertEqual(first["life_cycle_state"], "CANCELLED")
        self.assertEqual(second["reference_number"], second_reference)
        self.assertEqual(second["life_cycle_state"], "POSTED")
        self.assertEqual(second["total_amount"], Decimal("24.00"))
        self.assertEqual(self.simulator.call_count(CANCEL), 1)
        spends = self.requested_spends()
        self.assertEqual([spend["life_cycle_state"] for spend in spends], ["CANCELLED", "POSTED"])
        self.assertEqual(self.wallet(), Decimal("18.60"))
        self.assertAlmostEqual(order.crmcom_wallet_after, 18.6)
        self.run_cron()
        self.assertEqual(self.simulator.call_count(CREATE), 2)

    def test_refund_screen_keeps_back_the_redemption_share(self):
        orders = self.run_tour("pos_crmcom_refund_share")
        order = orders.filtered(lambda o: not o.lines.refunded_orderline_id)
        refund = orders - order
        self.assertEqual(len(order), 1)
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.state, "paid")
        self.assert_discount_line(order, 5.0)

        # The refund: two coffees back (-8.00), 2.00 of rewards kept back for the
        # wallet on a line refunding the redemption line: 6.00 paid back in cash.
        self.assertAlmostEqual(refund.amount_total, -6.0)
        self.assertAlmostEqual(refund.amount_paid, -6.0)
        coffee_back = refund.lines.filtered(lambda line: line.product_id == self.coffee)
        self.assertEqual(coffee_back.qty, -2)
        self.assertAlmostEqual(coffee_back.price_subtotal_incl, -8.0)
        share = self.redemption_lines(refund)
        self.assertEqual(len(share), 1)
        self.assertEqual(share.refunded_orderline_id, self.redemption_lines(order))
        self.assertAlmostEqual(share.qty, -0.4)
        self.assertAlmostEqual(share.price_subtotal_incl, 2.0)
        self.assertAlmostEqual(self.redemption_lines(order).refunded_qty, 0.4)
        self.assertFalse(refund.crmcom_warning, "the share matches the policy")
        self.assertEqual(refund.crmcom_state, "none", "a refund is never sent")

        # The original order: its purchase is cancelled, the three coffees kept are
        # sent as "<reference>/2" and the 3.00 of rewards the customer keeps are
        # spent again on them.
        self.assertEqual(order.crmcom_state, "cancel_pending")
        for _round in range(5):
            if not self.env["pos.order"]._crmcom_cron_send(commit=False):
                break
        self.assertEqual(order.crmcom_state, "sent")
        self.assertFalse(order.crmcom_warning)
        self.assertEqual(order.crmcom_reference, f"{order.pos_reference}/2")
        self.assertAlmostEqual(order.crmcom_redemption_amount, 3.0)
        purchases = {p["reference_number"]: p for p in self.simulator.purchases()}
        self.assertEqual(len(purchases), 2)
        self.assertEqual(purchases[order.pos_reference]["life_cycle_state"], "CANCELLED")
        kept = purchases[f"{order.pos_reference}/2"]
        self.assertEqual(kept["life_cycle_state"], "POSTED")
        self.assertEqual(kept["total_amount"], Decimal("12.00"))
        self.assertEqual(kept["total_spend_amount"], Decimal("3.00"))
        spends = self.requested_spends()
        self.assertEqual([s["life_cycle_state"] for s in spends], ["CANCELLED", "POSTED"])
        self.assertEqual(self.spent(spends[1]), Decimal("3.00"))
        # Wallet: 20.00 - 3.00 kept rewards + 15% award on 12.00 = 18.80; the
        # customer paid 15.00, got 6.00 back: 9.00 + 3.00 of rewards for 12.00.
        self.assertEqual(self.wallet(), Decimal("18.80"))

    def test_panel_refresh_is_debounced_and_drops_stale_answers(self):
        # The first preview takes 2 s: four quantity changes meanwhile give ONE
        # more preview, and the answer for one coffee is never shown.
        self.simulator.inject(Fault(endpoint=PREVIEW, kind="latency", delay=2.0))
        order = self.paid_order(self.run_tour("pos_crmcom_spend_preview_refresh"))

        self.assertAlmostEqual(order.amount_total, 20.0)
        self.assertEqual(self.simulator.call_count(PREVIEW), 2)

    def test_crmcom_down_at_preview_lets_the_sale_go_on(self):
        self.simulator.inject(Fault(endpoint=PREVIEW, kind="drop", times=None))
        order = self.paid_order(self.run_tour("pos_crmcom_spend_preview_down"))

        self.assertAlmostEqual(order.amount_total, 20.0)
        self.assertFalse(self.redemption_lines(order))
        self.assertEqual(self.simulator.call_count(CREATE), 0)
        self.assertGreaterEqual(self.simulator.call_count(PREVIEW), 1)
        self.assertEqual(order.crmcom_state, "pending", "queued: sent when CRM.COM is back")
