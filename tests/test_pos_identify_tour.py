# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The cashier identifies a CRM.COM customer at the till (guide step 1).

POS tours in headless Chromium (static/tests/tours/crmcom_identify_tour.js)
against the CRM.COM simulator over real HTTP; each test then checks the database
(the order's customer is the linked partner, never a duplicate) and what reached
the simulator.
"""

from odoo.tests import tagged

# Import the module, not the class: a TestCase class imported into this
# module's namespace would be collected again by pytest.
from odoo.addons.point_of_sale.tests import test_frontend

from ..crmcom_simulator import Fault
from .common import ALICE, CrmcomSimulatorMixin

SHOW = "rewards_participants/show"
BOB_ID = "40000000000000000000000000000002"


@tagged("post_install", "-at_install")
class TestPosIdentifyTour(CrmcomSimulatorMixin, test_frontend.TestPointOfSaleHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.configure_company(cls.main_pos_config.company_id)
        cls.main_pos_config.write(
            {
                "crmcom_enabled": True,
                "crmcom_unit_key": "alternative_code",
                "crmcom_unit_value": "SHOP1",
            }
        )

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

    def partners_of(self, participant_id):
        return (
            self.env["res.partner"]
            .with_context(active_test=False)
            .search([("crmcom_participant_id", "=", participant_id)])
        )

    def assert_paid_without_customer(self, orders):
        self.assertEqual(len(orders), 1, "the sale should go on without rewards")
        self.assertEqual(orders.state, "paid")
        self.assertFalse(orders.partner_id, "a failed identification must not set a customer")
        self.assertEqual(orders.lines.product_id, self.desk_organizer)

    # --------------------------------------------------------------- tests

    def test_identify_by_card_then_sell(self):
        orders = self.run_tour("pos_crmcom_identify_card")

        alice = self.partners_of(ALICE["id"])
        self.assertEqual(len(alice), 1, "exactly one customer for the participant")
        self.assertEqual(alice.name, ALICE["name"])
        self.assertEqual(alice.crmcom_participant_number, ALICE["number"])
        self.assertAlmostEqual(alice.crmcom_wallet_balance, ALICE["balance"], places=2)
        self.assertIn(ALICE["card"], alice.crmcom_token_ids.mapped("code"))
        self.assertEqual(len(orders), 1)
        self.assertEqual(orders.state, "paid")
        self.assertEqual(orders.partner_id, alice)
        self.assertEqual(orders.lines.product_id, self.desk_organizer)
        self.assertEqual(self.simulator.call_count(SHOW), 1)

    def test_identify_by_number_while_crmcom_is_slow_then_reload(self):
        # A slow answer: the tour checks that confirm is disabled meanwhile and
        # presses Enter again; still one call.
        self.simulator.inject(Fault(endpoint=SHOW, kind="latency", delay=3.0))
        orders = self.run_tour("pos_crmcom_identify_number")

        bob = self.partners_of(BOB_ID)
        self.assertEqual(len(bob), 1)
        self.assertEqual(bob.name, "Bob Brown")
        self.assertEqual(bob.crmcom_participant_number, "RP0002")
        self.assertEqual(len(orders), 1)
        self.assertEqual(orders.state, "paid")
        self.assertEqual(orders.partner_id, bob)
        self.assertEqual(self.simulator.call_count(SHOW), 1, "no double call while busy")

    def test_identify_existing_customer_is_linked_not_copied(self):
        alice = self.env["res.partner"].create(
            {
                "name": ALICE["name"],
                "email": "alice@example.com",
                "crmcom_participant_number": ALICE["number"],
            }
        )
        orders = self.run_tour("pos_crmcom_identify_card")

        self.assertEqual(self.partners_of(ALICE["id"]), alice, "linked, not duplicated")
        self.assertEqual(orders.partner_id, alice)

    def test_unknown_and_terminated_cards_leave_the_order_alone(self):
        partners_before = self.env["res.partner"].with_context(active_test=False).search_count([])
        orders = self.run_tour("pos_crmcom_identify_refused")

        self.assert_paid_without_customer(orders)
        self.assertEqual(self.simulator.call_count(SHOW), 2)
        self.assertEqual(
            self.env["res.partner"].with_context(active_test=False).search_count([]),
            partners_before,
            "no customer created for an unknown or terminated participant",
        )

    def test_crmcom_down_lets_the_sale_go_on(self):
        self.simulator.inject(Fault(endpoint=SHOW, kind="drop", times=None))
        orders = self.run_tour("pos_crmcom_identify_unavailable")

        self.assert_paid_without_customer(orders)
        self.assertFalse(self.partners_of(ALICE["id"]))
        self.assertGreaterEqual(self.simulator.call_count(SHOW), 1)

    def test_crmcom_too_slow_lets_the_sale_go_on(self):
        self.main_pos_config.company_id.sudo().crmcom_read_timeout = 0.5
        self.simulator.inject(Fault(endpoint=SHOW, kind="latency", delay=2.0, times=None))
        orders = self.run_tour("pos_crmcom_identify_timeout")

        self.assert_paid_without_customer(orders)
        self.assertFalse(self.partners_of(ALICE["id"]))

    def test_crmcom_not_configured_lets_the_sale_go_on(self):
        self.main_pos_config.company_id.sudo().crmcom_web_api_key = False
        orders = self.run_tour("pos_crmcom_identify_not_configured")

        self.assert_paid_without_customer(orders)
        self.assertEqual(self.simulator.call_count(), 0, "nothing sent to CRM.COM")

    def test_scan_card_on_product_screen(self):
        orders = self.run_tour("pos_crmcom_identify_scan")

        alice = self.partners_of(ALICE["id"])
        self.assertEqual(len(alice), 1)
        self.assertEqual(len(orders), 1)
        self.assertEqual(orders.state, "paid")
        self.assertEqual(orders.partner_id, alice)
        self.assertEqual(orders.lines.product_id, self.monitor_stand)
        # The unknown code and the card were both asked; the product code was not.
        self.assertEqual(self.simulator.call_count(SHOW), 2)
