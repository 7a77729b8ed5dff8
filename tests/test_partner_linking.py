from psycopg2 import IntegrityError

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..crmcom_simulator import Fault
from .common import ALICE, BOB, CrmcomSimulatorMixin, TillCalls


@tagged("post_install", "-at_install")
class TestCrmcomPartnerLinking(CrmcomSimulatorMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.configure_company(cls.env.company)
        cls.config = cls.env["pos.config"].create(
            {"name": "Linking till", "crmcom_enabled": True, "crmcom_unit_value": "SHOP1"}
        )
        cls.rewards = TillCalls(cls.env)

    def identify(self, kind, value):
        return self.rewards.identify_customer(self.config.id, kind, value)

    def partners_of(self, participant_id):
        return (
            self.env["res.partner"]
            .with_context(active_test=False)
            .search([("crmcom_participant_id", "=", participant_id)])
        )

    def test_identify_by_card_creates_and_links_the_customer(self):
        result = self.identify("access_token", f"  {ALICE['card']} ")
        self.assertTrue(result["ok"], result)
        partner = self.env["res.partner"].browse(result["partner_id"])
        self.assertEqual(partner.name, ALICE["name"])
        self.assertEqual(partner.crmcom_participant_id, ALICE["id"])
        self.assertEqual(partner.crmcom_participant_number, ALICE["number"])
        self.assertEqual(partner.crmcom_account_number, ALICE["account_number"])
        self.assertEqual(partner.crmcom_wallet_balance, ALICE["balance"])
        self.assertTrue(partner.crmcom_wallet_read_at)
        self.assertEqual(partner.crmcom_token_ids.mapped("code"), [ALICE["card"]])
        self.assertEqual(result["wallet_balance"], ALICE["balance"])
        self.assertEqual(result["name"], ALICE["name"])

    def test_identifying_again_by_any_identifier_never_duplicates(self):
        first = self.identify("access_token", ALICE["card"])["partner_id"]
        for kind, value in (
            ("access_token", ALICE["phone"]),
            ("number", ALICE["number"]),
            ("id", ALICE["id"]),
            ("access_token", ALICE["card"]),
        ):
            with self.subTest(kind=kind):
                self.assertEqual(self.identify(kind, value)["partner_id"], first)
        self.assertEqual(len(self.partners_of(ALICE["id"])), 1)
        partner = self.env["res.partner"].browse(first)
        self.assertEqual(
            sorted(partner.crmcom_token_ids.mapped("code")), sorted([ALICE["card"], ALICE["phone"]])
        )

    def test_an_existing_customer_is_linked_not_copied(self):
        # Known by token from an earlier import, without a participant id yet.
        existing = self.env["res.partner"].create({"name": "Alice (imported)"})
        self.env["crmcom.access.token"].create({"code": ALICE["card"], "partner_id": existing.id})
        result = self.identify("access_token", ALICE["card"])
        self.assertEqual(result["partner_id"], existing.id)
        self.assertEqual(existing.crmcom_participant_id, ALICE["id"])
        self.assertEqual(existing.name, "Alice (imported)")  # the shop's name is kept
        # Known by participant number only.
        bob = self.env["res.partner"].create(
            {"name": "Bob", "crmcom_participant_number": BOB["number"]}
        )
        self.assertEqual(self.identify("access_token", BOB["card"])["partner_id"], bob.id)
        self.assertEqual(len(self.partners_of(bob.crmcom_participant_id)), 1)

    def test_an_archived_customer_is_found_again(self):
        partner = self.env["res.partner"].browse(
            self.identify("number", ALICE["number"])["partner_id"]
        )
        partner.active = False
        self.assertEqual(self.identify("access_token", ALICE["card"])["partner_id"], partner.id)

    def test_the_database_refuses_two_customers_for_one_participant(self):
        self.identify("number", ALICE["number"])
        # odoo.sql_db logs the refused INSERT as an ERROR ("bad query"): expected here.
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(IntegrityError),
            self.env.cr.savepoint(),
        ):
            self.env["res.partner"].create({"name": "Twin", "crmcom_participant_id": ALICE["id"]})

    def test_not_found_terminated_and_bad_input(self):
        created_before = self.env["res.partner"].search_count([])
        result = self.identify("access_token", "0000000000000000")
        self.assertEqual((result["ok"], result["reason"]), (False, "not_found"))
        # An unknown card is about the customer, not the session: no new login (the
        # suite's CRM.COM answers ACCESS_TOKEN_NOT_FOUND, see common.STRICT_CRMCOM).
        self.assertEqual(self.simulator.login_count, 1)
        self.assertIn("No CRM.COM customer", result["message"])
        result = self.identify("number", "RP0004")
        self.assertEqual((result["ok"], result["reason"]), (False, "terminated"))
        self.assertIn("Dave Dean", result["message"])
        for kind, value in (
            ("shoe_size", "42"),
            ("number", "   "),
            ("number", 42),
            ("id", "x\x00y"),
        ):
            with self.subTest(kind=kind, value=value):
                result = self.identify(kind, value)
                self.assertEqual((result["ok"], result["reason"]), (False, "invalid"))
        self.assertEqual(self.env["res.partner"].search_count([]), created_before)

    def test_crmcom_down_or_slow_lets_the_sale_go_on(self):
        self.simulator.inject(Fault(endpoint="*", kind="drop", times=None))
        result = self.identify("access_token", ALICE["card"])
        self.assertEqual((result["ok"], result["reason"]), (False, "unavailable"))
        self.assertIn("finish the sale without rewards", result["message"])
        self.simulator.clear_faults()
        self.env.company.crmcom_read_timeout = 0.3
        self.simulator.inject(Fault(endpoint="rewards_participants/show", kind="latency", delay=1))
        result = self.identify("access_token", ALICE["card"])
        self.assertEqual(result["reason"], "timeout")
        self.assertFalse(self.partners_of(ALICE["id"]))

    def test_not_configured_and_unknown_till(self):
        self.env.company.crmcom_web_api_key = False
        result = self.identify("number", ALICE["number"])
        self.assertEqual((result["ok"], result["reason"]), (False, "not_configured"))
        # The till gets words, not a traceback (README, Trust model).
        # Odoo's RPC layer reads the ids of [[ids], ...] (a bool or a float is refused
        # there, before the addon): anything but one known till is refused in words.
        for config_id in (999999, "1", None, [], [self.config.id, 999999]):
            with self.subTest(config_id=config_id):
                result = self.rewards.identify_customer(config_id, "number", ALICE["number"])
                self.assertEqual(result["ok"], False)
                self.assertIn("Unknown point of sale", result["message"])
        self.config.crmcom_enabled = False
        result = self.identify("number", ALICE["number"])
        self.assertEqual((result["ok"], result["reason"]), (False, "refused"))
        self.assertIn("off for this point of sale", result["message"])

    def test_look_up_in_crmcom_refreshes_the_wallet(self):
        partner = self.env["res.partner"].browse(
            self.identify("number", ALICE["number"])["partner_id"]
        )
        partner.crmcom_wallet_balance = 0
        action = partner.action_crmcom_lookup()
        self.assertEqual(action["params"]["type"], "success", action)
        self.assertEqual(partner.crmcom_wallet_balance, ALICE["balance"])
        stranger = self.env["res.partner"].create({"name": "Not linked"})
        with self.assertRaises(UserError):
            stranger.action_crmcom_lookup()

    def test_one_login_for_many_identifications(self):
        for _ in range(5):
            self.assertTrue(self.identify("access_token", ALICE["card"])["ok"])
        self.assertEqual(self.simulator.login_count, 1)
        # At least one look-up each: a read whose connection broke is sent again
        # (on a loaded machine, now and then), never with a new login.
        self.assertGreaterEqual(self.simulator.call_count("rewards_participants/show"), 5)
