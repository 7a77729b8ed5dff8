import json
from datetime import timedelta

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..crmcom_simulator import Fault
from .common import ALICE, TEST_WEB_API_KEY, CrmcomSimulatorMixin, TillCalls


@tagged("post_install", "-at_install")
class TestCrmcomCallLog(CrmcomSimulatorMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.configure_company(cls.env.company)
        cls.config = cls.env["pos.config"].create(
            {"name": "Log till", "crmcom_enabled": True, "crmcom_unit_value": "SHOP1"}
        )
        cls.log = cls.env["crmcom.call.log"]

    def test_every_call_is_logged_with_secrets_redacted(self):
        before = self.log.search([]).ids
        TillCalls(self.env).identify_customer(self.config.id, "number", ALICE["number"])
        entries = self.log.search([("id", "not in", before)], order="id")
        self.assertEqual(
            entries.mapped("operation"),
            ["authentication/web_api_key/token", "rewards_participants/show"],
        )
        login, show = entries
        self.assertTrue(all(entries.mapped("success")))
        self.assertEqual(show.outcome, "OK")
        self.assertEqual(show.company_id, self.env.company)
        self.assertGreater(show.duration_ms, 0)
        # Written by one plain INSERT: the log-access columns as the ORM sets them.
        self.assertEqual(show.create_uid, self.env.user)
        self.assertEqual(show.create_date, self.env.cr.now())
        request = json.loads(show.request_body)
        self.assertEqual(request["token"], "***")
        self.assertEqual(request["rewards_participant_identifier"], {"number": ALICE["number"]})
        self.assertEqual(json.loads(login.response_body)["data"]["token"], "***")
        everything = " ".join(entries.mapped("request_body") + entries.mapped("response_body"))
        self.assertNotIn(TEST_WEB_API_KEY, everything)
        self.assertEqual(json.loads(show.response_body)["data"]["number"], ALICE["number"])

    def test_failures_are_logged_with_their_code_and_message(self):
        self.simulator.inject(
            Fault(endpoint="rewards_participants/show", kind="error", code="BOOM", message="Nope")
        )
        TillCalls(self.env).identify_customer(self.config.id, "number", ALICE["number"])
        entry = self.log.search([("operation", "=", "rewards_participants/show")], limit=1)
        self.assertFalse(entry.success)
        self.assertEqual(entry.outcome, "BOOM")
        self.assertIn("Nope", entry.error_message)
        self.simulator.inject(Fault(endpoint="rewards_participants/show", kind="drop"))
        TillCalls(self.env).identify_customer(self.config.id, "number", ALICE["number"])
        self.assertIn(
            "CONNECTION_ERROR",
            self.log.search([("operation", "=", "rewards_participants/show")]).mapped("outcome"),
        )

    def test_old_entries_are_removed_after_the_retention(self):
        self.env.company.crmcom_log_retention_days = 30
        old, recent = self.log.create(
            [
                {"operation": "old", "company_id": self.env.company.id},
                {"operation": "recent", "company_id": self.env.company.id},
            ]
        )
        self.env.cr.execute(
            "UPDATE crmcom_call_log SET create_date = %s WHERE id = %s",
            (fields.Datetime.now() - timedelta(days=31), old.id),
        )
        self.log.invalidate_model()
        self.env.ref("pos_crmcom_rewards.ir_cron_crmcom_call_log_gc").method_direct_trigger()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
