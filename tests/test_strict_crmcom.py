# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""CRM.COM servers set up otherwise than the simulator's defaults (crmcom_simulator/
README.md, "Strict switches"): each ends with the money right in CRM.COM and on the
order, and with words for the cashier."""

import time
from decimal import Decimal

from odoo.tests import tagged

from ..crmcom import CrmcomClient, TokenCache
from .common import ALICE, STRICT_CRMCOM, TEST_WEB_API_KEY, CrmcomPosCase, TillCalls

LOGIN = "authentication/web_api_key/token"
SPEND = "customer_events/spend_requests/create"


@tagged("post_install", "-at_install")
class TestCrmcomStricterServers(CrmcomPosCase):
    def setUp(self):
        super().setUp()
        self.redemption = self.env.ref("pos_crmcom_rewards.product_crmcom_redemption")

    def settings(self, **switches):
        self.simulator.reset(settings={**STRICT_CRMCOM, **switches})

    def draft(self, lines):
        data = self.create_ui_order_data(lines, customer=self.alice)
        data.update(state="draft", payment_ids=[], amount_paid=0)
        result = self.env["pos.order"].sync_from_ui([data])
        return self.env["pos.order"].browse(result["pos.order"][0]["id"])

    def spend(self, order, amount):
        return TillCalls(self.env).spend_order(self.config.id, order.uuid, amount)

    def wallet(self):
        return self.simulator.wallet_balance(ALICE["number"])

    def test_a_crmcom_that_spends_the_whole_purchase(self):
        self.settings(spend_everything=True)
        order = self.draft([(self.coffee, 3)])  # 12.00, wallet 20.00
        answer = self.spend(order, 2)
        self.assertTrue(answer["ok"], answer)
        # The till deducts what CRM.COM spent, not what was asked, and says so.
        self.assertEqual((answer["spent_amount"], answer["redemption_amount"]), (12.0, 12.0))
        self.assertTrue(answer["exceeded"])
        self.assertFalse(answer["partial"])
        self.assertIn("more than the", answer["notice"])
        self.assertIn("12.00", answer["notice"])
        self.redemption.lst_price = -answer["redemption_amount"]
        self.pay_draft(order, [(self.coffee, 3), (self.redemption, 1)])
        self.drain()
        self.assertFalse(order.crmcom_warning)
        # Wallet: 20 + award - 12, as the receipt says.
        self.assertEqual(self.wallet(), Decimal(str(order.crmcom_wallet_after)))
        self.assertEqual(order.crmcom_wallet_after, 20.0 + order.crmcom_awarded_amount - 12.0)
        self.assertEqual(self.simulator.call_count(SPEND), 1)

    def test_a_server_before_r12_whose_tokens_expire_when_idle(self):
        self.settings(token_idle_timeout=0.5)
        rewards = TillCalls(self.env)
        first = rewards.identify_customer(self.config.id, "number", ALICE["number"])
        self.assertTrue(first["ok"], first)
        time.sleep(0.8)  # idle longer than the server allows
        order = self.draft([(self.coffee, 5)])
        answer = self.spend(order, 5)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["redemption_amount"], 5.0)
        # One new login, the spend made once, the wallet right.
        self.assertEqual(self.simulator.call_count(LOGIN), 2)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assertEqual(self.wallet(), Decimal("18.00"))  # 20 + 3 - 5

    def test_cancelling_a_purchase_cancelled_already(self):
        # The till's "Cancel redemption", after someone cancelled the purchase in CRM.COM.
        order = self.draft([(self.coffee, 5)])
        self.assertTrue(self.spend(order, 5)["ok"])
        elsewhere = CrmcomClient(
            self.simulator.base_url, web_api_key=TEST_WEB_API_KEY, token_cache=TokenCache()
        )
        elsewhere.cancel_purchase({"id": order.crmcom_purchase_id})
        self.assertEqual(self.wallet(), Decimal("20.00"))
        answer = TillCalls(self.env).cancel_order_rewards(self.config.id, order.uuid)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(order.crmcom_state, "none")
        self.assertFalse(order.crmcom_redemption_allowed)
        # A paid sale refunded after its purchase was cancelled in CRM.COM.
        sale = self.sell([(self.coffee, 2)])
        self.drain()
        elsewhere.cancel_purchase({"id": sale.crmcom_purchase_id})
        self.sell_refund(sale)
        self.drain()
        self.assertEqual(sale.crmcom_state, "cancelled")
        self.assertFalse(sale.crmcom_last_error)
        self.assertEqual(self.wallet(), Decimal("20.00"))
