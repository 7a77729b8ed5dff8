# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Exactly once when a request calling CRM.COM is lost after CRM.COM answered:
the Odoo worker dies before its transaction commits, or Odoo's RPC layer rolls the
transaction back and runs the request again (serialization failure). Each
request runs in its own committed transaction (see committed.py), so what is lost
is really lost, and what the attempt journal committed on the side really stays.
"""

from datetime import timedelta

from odoo import api, fields
from odoo.service.model import retrying
from odoo.tests import tagged
from odoo.tools import SQL

from ..crmcom import read_purchase
from ..crmcom_simulator import Fault
from .committed import CommittedPosCase
from .common import ALICE, TillCalls

CREATE = "customer_events/purchases/create"
SPEND = "customer_events/spend_requests/create"
CANCEL = "customer_events/purchases/cancel"
SHOW_PURCHASE = "customer_events/purchases/show"


@tagged("post_install", "-at_install")
class TestCrmcomLostRequests(CommittedPosCase):
    def spend(self, order_uuid, amount, *, die=False):
        return self.request("spend_order", self.config_id, order_uuid, amount, die=die)

    def order_row(self, order_id, *names):
        columns = SQL(", ").join(SQL.identifier(name) for name in names)
        [row] = self.fetch_rows(SQL("SELECT %s FROM pos_order WHERE id = %s", columns, order_id))
        return dict(zip(names, row, strict=True))

    def assert_wallet_matches_order(self, order_id):
        """CRM.COM's wallet is what the order (and its receipt) says it is."""
        wallet_after = self.order_row(order_id, "crmcom_wallet_after")["crmcom_wallet_after"]
        self.assertAlmostEqual(float(self.simulator.wallet_balance(ALICE["number"])), wallet_after)

    def test_a_spend_whose_worker_died_after_crmcom_answered_is_made_once(self):
        draft = self.draft_data(5)  # 20.00
        [order_id] = self.sync(draft)
        wallet_before = self.simulator.wallet_balance(ALICE["number"])
        self.assertIsNone(self.spend(draft["uuid"], 5, die=True))
        # CRM.COM made the purchase and the spend; the order lost both.
        [purchase] = self.simulator.purchases()
        self.assertEqual(len(self.simulator.spend_requests()), 1)
        row = self.order_row(order_id, "crmcom_state", "crmcom_attempts")
        self.assertEqual(row["crmcom_state"], "none")
        self.assertFalse(row["crmcom_attempts"])
        self.assertEqual(
            self.journal(draft["uuid"]),
            [("purchase", draft["name"]), ("spend", purchase["id"])],
        )
        # The cashier presses "Spend rewards" again: CRM.COM is asked first.
        answer = self.spend(draft["uuid"], 5)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["purchase_number"], purchase["number"])
        self.assertEqual(answer["spent_amount"], 5.0)
        self.assertEqual(answer["redemption_amount"], 5.0)
        self.assertEqual(answer["wallet_before"], float(wallet_before))
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assertEqual(self.journal(draft["uuid"]), [], "settled once committed")
        # Paid with the redemption deducted: nothing more goes to CRM.COM.
        self.sync(self.paid_data(draft, redemption=5.0))
        self.drain()
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(len(self.posted(draft["name"])), 1)
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assert_wallet_matches_order(order_id)

    def test_rows_left_by_a_worker_dying_right_after_its_commit_change_nothing(self):
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        answer = self.spend(draft["uuid"], 5)
        self.assertTrue(answer["ok"], answer)
        [purchase] = self.simulator.purchases()
        # The request committed, then its worker died before striking its rows off.
        with self.registry.cursor() as cr:
            cr.execute(
                """INSERT INTO crmcom_attempt_journal
                          (order_uuid, kind, key, attempt, created_at)
                   VALUES (%s, 'purchase', %s, 1, now() at time zone 'UTC'),
                          (%s, 'spend', %s, 0, now() at time zone 'UTC')""",
                [draft["uuid"], draft["name"], draft["uuid"], purchase["id"]],
            )
        self.sync(self.paid_data(draft, redemption=5.0))
        self.drain()
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assertEqual(self.simulator.call_count(CANCEL), 0)
        self.assertEqual(self.journal(draft["uuid"]), [])
        self.assert_wallet_matches_order(order_id)

    def test_a_spend_run_again_by_odoo_after_a_serialization_failure_is_made_once(self):
        draft = self.draft_data(5)
        self.sync(draft)
        tries = []

        def spend_then_conflict(env):
            answer = TillCalls(env).spend_order(self.config_id, draft["uuid"], 5)
            tries.append(answer)
            if len(tries) == 1:
                # Another request changes a row this one writes afterwards (here
                # the customer): PostgreSQL refuses this transaction, and Odoo's
                # RPC layer rolls it back and runs the whole request again.
                with self.registry.cursor() as other:
                    other.execute(
                        "UPDATE res_partner SET write_date = now() WHERE id = %s",
                        [self.partner_id],
                    )
                env.cr.execute(
                    "UPDATE res_partner SET write_date = now() WHERE id = %s",
                    [self.partner_id],
                    log_exceptions=False,
                )
            return answer

        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})
            answer = retrying(lambda: spend_then_conflict(env), env)
        self.assertEqual(len(tries), 2, "the request ran twice")
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["spent_amount"], 5.0)
        self.assertEqual(answer["purchase_number"], tries[0]["purchase_number"])
        self.assertEqual(len(self.simulator.purchases()), 1)
        self.assertEqual(len(self.simulator.spend_requests()), 1)
        self.assertEqual(self.journal(draft["uuid"]), [])

    def test_a_spend_alone_lost_is_read_from_the_purchase(self):
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        # The purchase is made (and committed) first, without spending.
        self.assertTrue(self.spend(draft["uuid"], 0)["ok"])
        self.assertIsNone(self.spend(draft["uuid"], 4, die=True))
        self.assertEqual(len(self.simulator.spend_requests()), 1)
        answer = self.spend(draft["uuid"], 4)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["spent_amount"], 4.0)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.sync(self.paid_data(draft, redemption=4.0))
        self.drain()
        self.assertEqual(self.simulator.call_count(CREATE), 1)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assert_wallet_matches_order(order_id)

    def test_a_spend_lost_with_its_look_up_is_never_forgotten(self):
        # Found by tools/soak: the spend's answer is lost, then so is the purchase
        # read that would say whether it was applied. The till deducts nothing; the
        # doubt must outlive the request, and the payment replaces the purchase.
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        wallet_before = self.simulator.wallet_balance(ALICE["number"])
        self.assertTrue(self.spend(draft["uuid"], 0)["ok"])  # the purchase first
        self.simulator.inject(Fault(endpoint=SPEND, kind="drop", applied=True))
        self.simulator.inject(Fault(endpoint=SHOW_PURCHASE, kind="malformed", times=None))
        answer = self.spend(draft["uuid"], 4)
        self.assertFalse(answer["ok"], answer)
        self.assertEqual(answer["redemption_amount"], 0.0)
        self.assertEqual(len(self.simulator.spend_requests()), 1, "CRM.COM spent")
        self.assertEqual(self.journal(draft["uuid"])[-1][0], "spend")
        self.simulator.clear_faults()
        self.sync(self.paid_data(draft))  # paid in full, nothing deducted
        self.drain()
        [posted] = self.simulator.purchases(state="POSTED")
        self.assertEqual(read_purchase(posted).additional_spend_amount, 0)
        award = read_purchase(posted).award_amount
        self.assertEqual(self.simulator.wallet_balance(ALICE["number"]), wallet_before + award)
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(self.journal(draft["uuid"]), [])

    def test_a_sale_paid_in_full_after_its_spend_was_lost_gets_the_wallet_back(self):
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        wallet_before = self.simulator.wallet_balance(ALICE["number"])
        self.assertIsNone(self.spend(draft["uuid"], 5, die=True))
        [lost] = self.simulator.purchases()
        # The till never got the answer: the customer pays the full 20.00.
        self.sync(self.paid_data(draft))
        self.drain()
        # The purchase holding a spend the till did not deduct is cancelled (its
        # spend with it), and the sale is sent again without any spend.
        [cancelled] = self.simulator.purchases(state="CANCELLED")
        self.assertEqual(cancelled["id"], lost["id"])
        [posted] = self.simulator.purchases(state="POSTED")
        self.assertEqual(posted["reference_number"], f"{draft['name']}/2")
        self.assertEqual(read_purchase(posted).additional_spend_amount, 0)
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        award = read_purchase(posted).award_amount
        self.assertEqual(self.simulator.wallet_balance(ALICE["number"]), wallet_before + award)
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(self.journal(draft["uuid"]), [])

    def test_a_sale_abandoned_after_its_spend_was_lost_has_its_purchase_cancelled(self):
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        wallet_before = self.simulator.wallet_balance(ALICE["number"])
        self.assertIsNone(self.spend(draft["uuid"], 5, die=True))
        # The cashier deletes the order at the till.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})
            env["pos.order"].browse(order_id).action_pos_order_cancel()
        self.assertEqual(self.order_states([order_id]), {order_id: "cancel_pending"})
        self.drain()
        self.assertEqual(self.order_states([order_id]), {order_id: "cancelled"})
        self.assertEqual(self.simulator.purchases(state="POSTED"), [])
        self.assertEqual(self.simulator.call_count(CANCEL), 1)
        self.assertEqual(self.simulator.wallet_balance(ALICE["number"]), wallet_before)

    def test_cancel_redemption_after_a_lost_spend_cancels_the_purchase_first(self):
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        self.assertIsNone(self.spend(draft["uuid"], 5, die=True))
        answer = self.request("cancel_order_rewards", self.config_id, draft["uuid"])
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(self.simulator.purchases(state="POSTED"), [])
        # The next redemption is a new purchase; the lost one stays cancelled.
        answer = self.spend(draft["uuid"], 3)
        self.assertTrue(answer["ok"], answer)
        [posted] = self.simulator.purchases(state="POSTED")
        self.assertEqual(posted["reference_number"], f"{draft['name']}/2")
        self.assertEqual(self.simulator.call_count(SPEND), 2)
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})

    def set_product_code(self, code):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})
            env["product.product"].browse(self.product_id).default_code = code

    def failed_before_any_attempt(self, quantity):
        """A paid order whose purchase could not even be built (its product had no
        CRM.COM code): failed, with no attempt on record."""
        self.addCleanup(self.set_product_code, "COFFEE")
        self.set_product_code(False)
        data = self.order_data(quantity)
        [order_id] = self.sync(data)
        self.drain()
        row = self.order_row(order_id, "crmcom_state", "crmcom_attempts")
        self.assertEqual(row["crmcom_state"], "failed")
        self.assertFalse(row["crmcom_attempts"])
        self.set_product_code("COFFEE")
        return data, order_id

    def test_an_order_changed_after_a_lost_spend_replaces_the_earlier_purchase(self):
        draft = self.draft_data(5)  # 20.00
        [order_id] = self.sync(draft)
        self.assertIsNone(self.spend(draft["uuid"], 5, die=True))
        # No answer at the till: the cashier adds a coffee, then spends again.
        self.sync(self.changed_draft_data(draft, 6))  # 24.00
        answer = self.spend(draft["uuid"], 5)
        self.assertTrue(answer["ok"], answer)
        [cancelled] = self.simulator.purchases(state="CANCELLED")
        self.assertEqual(cancelled["reference_number"], draft["name"])
        [posted] = self.simulator.purchases(state="POSTED")
        self.assertEqual(posted["reference_number"], f"{draft['name']}/2")
        self.assertEqual(read_purchase(posted).total_amount, 24)
        self.assertEqual(answer["purchase_number"], posted["number"])
        self.assertEqual(answer["spent_amount"], 5.0)
        self.assertEqual(len(self.simulator.spend_requests(posted["number"])), 1)
        self.sync(self.paid_data(draft, quantity=6, redemption=5.0))
        self.drain()
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(len(self.simulator.purchases(state="POSTED")), 1)
        self.assert_wallet_matches_order(order_id)

    def test_an_order_changed_and_paid_after_a_lost_request_is_sent_as_it_was_paid(self):
        draft = self.draft_data(5)
        [order_id] = self.sync(draft)
        wallet_before = self.simulator.wallet_balance(ALICE["number"])
        self.assertIsNone(self.spend(draft["uuid"], 0, die=True))
        self.sync(self.paid_data(draft, quantity=6))
        self.drain()
        [cancelled] = self.simulator.purchases(state="CANCELLED")
        self.assertEqual(cancelled["reference_number"], draft["name"])
        [posted] = self.simulator.purchases(state="POSTED")
        self.assertEqual(posted["reference_number"], f"{draft['name']}/2")
        self.assertEqual(read_purchase(posted).total_amount, 24)
        award = read_purchase(posted).award_amount
        self.assertEqual(self.simulator.wallet_balance(ALICE["number"]), wallet_before + award)
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})

    def test_a_back_office_retry_whose_worker_died_is_looked_up(self):
        data, order_id = self.failed_before_any_attempt(3)
        retry = ("action_crmcom_retry", self.env["pos.order"].browse(order_id))
        self.assertIsNone(self.request(*retry, die=True))
        self.assertEqual(len(self.simulator.purchases()), 1)
        row = self.order_row(order_id, "crmcom_state", "crmcom_attempts")
        self.assertEqual(row["crmcom_state"], "failed")
        self.assertFalse(row["crmcom_attempts"], "the attempt was lost with the request")
        self.request(*retry)
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(len(self.posted(data["name"])), 1)
        self.assertEqual(self.simulator.call_count(CREATE), 1)

    def test_the_daily_vacuum_brings_back_a_forgotten_attempt(self):
        data, order_id = self.failed_before_any_attempt(2)
        retry = ("action_crmcom_retry", self.env["pos.order"].browse(order_id))
        self.assertIsNone(self.request(*retry, die=True))
        # Nobody touches the order again: later on, the vacuum finds the row.
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE crmcom_attempt_journal SET created_at = %s WHERE order_uuid = %s",
                [fields.Datetime.now() - timedelta(hours=2), data["uuid"]],
            )
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.env.uid, {})
            env["pos.order"]._gc_crmcom_forgotten_attempts()
        self.assertEqual(self.order_states([order_id]), {order_id: "pending"})
        self.assertEqual(self.journal(data["uuid"]), [])
        self.drain()
        self.assertEqual(self.order_states([order_id]), {order_id: "sent"})
        self.assertEqual(len(self.posted(data["name"])), 1)
        self.assertEqual(self.simulator.call_count(CREATE), 1)
