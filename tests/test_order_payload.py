import datetime
from decimal import Decimal

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..crmcom_simulator import Fault
from ..flows import sender
from ..flows.errors import CrmcomOrderError
from ..models.trust import in_flow
from .common import ALICE, CrmcomPosCase


@tagged("post_install", "-at_install")
class TestCrmcomOrderPayload(CrmcomPosCase):
    def payload(self, order):
        return order._crmcom_purchase().to_payload()

    def test_lines_after_discount_with_included_and_excluded_taxes(self):
        # Coffee 4.00 with 10% tax included, twice; sandwich 7.50 + 7% tax, 10% off.
        order = self.sell([(self.coffee, 2), (self.sandwich, 1, 10)])
        payload = self.payload(order)
        self.assertEqual(
            payload["products_set"],
            [
                {
                    "product_identifier": {"code": "COFFEE"},
                    "quantity": 2,
                    "net_amount": 7.27,
                    "vat_amount": 0.73,
                    "total_amount": 8,
                },
                {
                    "product_identifier": {"code": "SANDWICH"},  # CRM.COM code beats the reference
                    "quantity": 1,
                    "net_amount": 6.75,
                    "vat_amount": 0.47,
                    "total_amount": 7.22,
                },
            ],
        )
        self.assertEqual(
            (payload["total_amount"], payload["net_amount"], payload["vat_amount"]),
            (15.22, 14.02, 1.2),
        )
        self.assertAlmostEqual(payload["total_amount"], order.amount_total, places=2)
        self.assertEqual(
            payload["accounts_receivable_identifier"], {"number": ALICE["account_number"]}
        )
        self.assertEqual(payload["performed_by_unit_identifier"], {"alternative_code": "SHOP1"})
        self.assertEqual(payload["reference_number"], order.pos_reference)
        self.assertEqual(payload["external_system"], "ODOO-TEST-TILL")
        self.assertEqual(payload["external_system_reference_number"], order.uuid)

    def test_the_redemption_line_is_never_sent(self):
        redemption = self.env.ref("pos_crmcom_rewards.product_crmcom_redemption")
        self.assertFalse(redemption.taxes_id)
        redemption.lst_price = -2.0  # as the till prices the discount line
        order = self.sell([(self.coffee, 1), (redemption, 1)])
        self.assertAlmostEqual(order.amount_total, 2.0)
        payload = self.payload(order)
        self.assertEqual(
            [item["product_identifier"] for item in payload["products_set"]], [{"code": "COFFEE"}]
        )
        self.assertEqual(payload["total_amount"], 4)

    def test_order_wide_discounts_are_spread_over_the_lines(self):
        discount = self.create_product("Shop discount", self.categ_basic, -3.0)
        discount.default_code = "DISC"
        order = self.sell([(self.coffee, 2), (self.sandwich, 2), (discount, 1)])
        payload = self.payload(order)
        totals = [Decimal(str(item["total_amount"])) for item in payload["products_set"]]
        self.assertEqual(len(totals), 2)  # the discount line itself is not a product sold
        self.assertEqual(sum(totals), Decimal(str(order.amount_total)).quantize(Decimal("0.01")))
        # 8.00 + 16.05 = 24.05 scaled to 21.05: each line keeps its share.
        self.assertEqual(totals, [Decimal("7.00"), Decimal("14.05")])
        for item in payload["products_set"]:
            self.assertAlmostEqual(
                item["net_amount"] + item["vat_amount"], item["total_amount"], places=2
            )

    def test_product_codes_and_the_fallback(self):
        nameless = self.create_product("No code", self.categ_basic, 1.0)
        order = self.sell([(self.coffee, 1), (nameless, 1)])
        with self.assertRaisesRegex(CrmcomOrderError, "No code"):
            self.payload(order)
        self.company.crmcom_fallback_product_code = "DEFAULT"
        codes = [item["product_identifier"]["code"] for item in self.payload(order)["products_set"]]
        self.assertEqual(codes, ["COFFEE", "DEFAULT"])

    def test_performed_on_is_the_sale_time_in_the_till_zone(self):
        order = self.sell([(self.coffee, 1)])
        order.date_order = datetime.datetime(2026, 7, 1, 9, 30, 0)  # UTC
        order.user_id.tz = "Asia/Nicosia"  # UTC+3 in summer
        self.assertEqual(self.payload(order)["performed_on"], "2026-07-01T12:30:00")

    def test_a_customer_unknown_to_crmcom_is_refused_clearly(self):
        order = self.sell([(self.coffee, 1)], customer=self.customer)
        with self.assertRaisesRegex(CrmcomOrderError, "not linked to CRM.COM"):
            self.payload(order)


@tagged("post_install", "-at_install")
class TestCrmcomOrderSubmission(CrmcomPosCase):
    def queue(self, order):
        in_flow(order).crmcom_state = "pending"
        return order

    def test_submission_stores_the_purchase_and_matches_the_simulator(self):
        order = self.queue(self.sell([(self.coffee, 2), (self.sandwich, 1, 10)]))
        self.assertTrue(sender.send_now(in_flow(order)))
        [purchase] = self.simulator.purchases(reference_number=order.pos_reference)
        self.assertEqual(purchase["total_amount"], Decimal("15.22"))
        self.assertEqual(purchase["id"], order.crmcom_purchase_id)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(order.crmcom_purchase_number, purchase["number"])
        self.assertEqual(order.crmcom_attempts, 1)
        self.assertAlmostEqual(order.crmcom_awarded_amount, float(purchase["total_awarded_amount"]))
        # Submitting again sends nothing.
        self.assertTrue(sender.send_now(in_flow(order)))
        self.assertEqual(self.simulator.call_count("customer_events/purchases/create"), 1)

    def test_a_lost_answer_is_looked_up_not_sent_twice(self):
        order = self.queue(self.sell([(self.coffee, 1)]))
        self.simulator.inject(
            Fault(endpoint="customer_events/purchases/create", kind="drop", applied=True)
        )
        self.assertFalse(sender.send_now(in_flow(order)))
        self.assertEqual(order.crmcom_state, "pending")
        self.assertIn("broke", order.crmcom_last_error)
        self.assertTrue(order.crmcom_next_attempt_at)
        self.assertTrue(sender.send_now(in_flow(order)))
        self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)
        self.assertEqual(self.simulator.call_count("customer_events/purchases/create"), 1)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(order.crmcom_attempts, 2)

    def test_a_refusal_fails_for_the_back_office_and_retry_sends_once(self):
        order = self.queue(self.sell([(self.coffee, 1)]))
        self.simulator.inject(
            Fault(
                endpoint="customer_events/purchases/create",
                kind="error",
                code="NOT_FOUND",
                message="Unknown unit",
            )
        )
        self.assertFalse(sender.send_now(in_flow(order)))
        self.assertEqual(order.crmcom_state, "failed")
        self.assertIn("Unknown unit", order.crmcom_last_error)
        action = order.action_crmcom_retry()
        self.assertEqual(action["params"]["type"], "success", action)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)
        # Nothing to retry any more.
        self.assertEqual(order.action_crmcom_retry()["params"]["type"], "warning")

    def test_a_pos_manager_retries_from_the_back_office(self):
        manager = new_test_user(
            self.env,
            login="crmcom_retry_manager",
            groups="point_of_sale.group_pos_manager",
            company_id=self.company.id,
            company_ids=self.company.ids,
        )
        order = self.queue(self.sell([(self.coffee, 1)]))
        in_flow(order).write(
            {"crmcom_state": "failed", "crmcom_last_error": "CRM.COM cannot be reached."}
        )
        action = order.with_user(manager).action_crmcom_retry()
        self.assertEqual(action["params"]["type"], "success", action)
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.simulator.purchases(reference_number=order.pos_reference)), 1)
        cashier = new_test_user(
            self.env, login="crmcom_retry_cashier", groups="point_of_sale.group_pos_user"
        )
        in_flow(order).crmcom_state = "failed"
        with self.assertRaises(AccessError):
            order.with_user(cashier).action_crmcom_retry()

    def test_attempts_run_out(self):
        self.company.crmcom_max_attempts = 2
        order = self.queue(self.sell([(self.coffee, 1)]))
        self.simulator.inject(Fault(endpoint="*", kind="http_error", http_status=503, times=None))
        sender.send_now(in_flow(order))
        self.assertEqual((order.crmcom_state, order.crmcom_attempts), ("pending", 1))
        sender.send_now(in_flow(order))
        self.assertEqual((order.crmcom_state, order.crmcom_attempts), ("failed", 2))
        self.assertIn("did not answer like a CRM.COM server", order.crmcom_last_error)
        self.assertEqual(self.simulator.purchases(), [])
