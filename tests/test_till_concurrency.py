# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Two tills at once on one customer, each request in its own transaction on
committed data (see committed.py): an identification never waits for another
till's transaction nor fails on what it wrote."""

import threading
import uuid as uuid_lib

from odoo import api
from odoo.tests import tagged

from .committed import THREAD_TIMEOUT, CommittedPosCase
from .common import ALICE, TillCalls

# A wallet snapshot that any identification replaces (another balance, read long ago).
STALE_WALLET = (
    "UPDATE res_partner SET crmcom_wallet_balance = -1, crmcom_wallet_read_at = '2000-01-01'"
    " WHERE id = %s"
)


@tagged("post_install", "-at_install")
class TestCrmcomTillConcurrency(CommittedPosCase):
    def identify(self):
        return self.request("identify_customer", self.config_id, "number", ALICE["number"])

    def make_wallet_stale(self, cr):
        cr.execute(STALE_WALLET, [self.partner_id])

    def test_an_identification_does_not_fail_on_a_wallet_another_till_just_stored(self):
        self.assertTrue(self.identify()["ok"])  # the customer is linked
        with self.registry.cursor() as cr:
            self.make_wallet_stale(cr)
        with self.registry.cursor() as cr, self.assertNoLogs("odoo.sql_db", "ERROR"):
            env = api.Environment(cr, self.env.uid, {})
            # This request's snapshot begins with the stale wallet...
            self.assertEqual(env["res.partner"].browse(self.partner_id).crmcom_wallet_balance, -1)
            # ... and another till stores the customer's wallet and commits meanwhile.
            with self.registry.cursor() as other:
                self.make_wallet_stale(other)
            answer = TillCalls(env).identify_customer(self.config_id, "number", ALICE["number"])
            self.assertTrue(answer["ok"], answer)
            self.assertEqual(answer["partner_id"], self.partner_id)

    def test_an_identification_does_not_wait_for_another_till_storing_the_wallet(self):
        self.assertTrue(self.identify()["ok"])
        with self.registry.cursor() as cr:
            self.make_wallet_stale(cr)  # so that the identification stores the wallet
        answers = []
        with self.registry.cursor() as other:
            # Another till's request stores the wallet and has not committed yet.
            self.make_wallet_stale(other)
            till = threading.Thread(target=lambda: answers.append(self.identify()), daemon=True)
            till.start()
            till.join(THREAD_TIMEOUT / 4)
            self.assertFalse(till.is_alive(), "the identification waited for the other till")
        till.join(THREAD_TIMEOUT)
        self.assertTrue(answers and answers[0]["ok"], answers)

    def test_a_preview_does_not_fail_on_a_customer_another_till_just_changed(self):
        # The preview and its call name the customer, whose wallet the other till
        # stores meanwhile: with the row locked FOR UPDATE there, PostgreSQL refused
        # these references (a key changed after this transaction began), and Odoo
        # ran the whole request again (seen in the soak).
        self.assertTrue(self.identify()["ok"])  # the customer is linked
        order_uuid = str(uuid_lib.uuid4())
        order = {
            "uuid": order_uuid,
            "partner_id": self.partner_id,
            "lines": [
                {
                    "product_id": self.product_id,
                    "qty": 2,
                    "price_subtotal": 8.0,
                    "price_subtotal_incl": 8.0,
                }
            ],
        }
        with self.registry.cursor() as cr:
            self.make_wallet_stale(cr)  # so that the next identification stores it
        [[calls_before]] = self.fetch_rows("SELECT COALESCE(MAX(id), 0) FROM crmcom_call_log")
        with self.registry.cursor() as cr, self.assertNoLogs("odoo.sql_db", "ERROR"):
            env = api.Environment(cr, self.env.uid, {})
            # This request's snapshot begins, then another till identifies the
            # customer, stores the wallet and commits.
            env["res.partner"].browse(self.partner_id).crmcom_wallet_balance  # noqa: B018
            self.assertTrue(self.identify()["ok"])
            answer = TillCalls(env).preview_order(self.config_id, order)
            self.assertTrue(answer["ok"], answer)
        previews = self.fetch_rows(
            "SELECT partner_id, total_amount FROM crmcom_till_preview WHERE order_uuid = %s",
            [order_uuid],
        )
        self.assertEqual(previews, [(self.partner_id, 8.0)])
        calls = self.fetch_rows(
            "SELECT operation, partner_id FROM crmcom_call_log WHERE id > %s ORDER BY id",
            [calls_before],
        )
        self.assertEqual(
            calls,
            [
                ("rewards_participants/show", None),  # the other till's
                ("customer_events/purchases/preview", self.partner_id),
            ],
        )
