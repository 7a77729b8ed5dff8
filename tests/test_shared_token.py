"""One CRM.COM token for the whole deployment (README › Operations): kept in the
database by crmcom.session.token, taken by every process that has none of its own,
renewed by one of them when CRM.COM refuses it, readable by no user.

A process is its token cache: a new TokenCache is a new worker or server."""

import threading

import psycopg2

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..crmcom import CrmcomClient, TokenCache
from ..models.crmcom_session_token import DatabaseTokenStore
from .common import ALICE, TEST_WEB_API_KEY, CrmcomPosCase, TillCalls

SHOW = "rewards_participants/show"


@tagged("post_install", "-at_install")
class TestCrmcomSharedToken(CrmcomPosCase):
    def process(self):
        """A client as another worker or server has it: its own (empty) token cache."""
        return CrmcomClient(
            self.simulator.base_url,
            web_api_key=TEST_WEB_API_KEY,
            token_cache=TokenCache(),
            token_store=DatabaseTokenStore(self.env.registry),
            timeout=(2, 5),
        )

    def stored_tokens(self):
        # Kept in transactions of their own: read as another process would.
        with self.registry.cursor() as cr:
            cr.execute("SELECT token FROM crmcom_session_token WHERE token IS NOT NULL")
            return [row[0] for row in cr.fetchall()]

    def test_every_process_takes_the_token_of_the_first_login(self):
        answer = TillCalls(self.env).identify_customer(self.config.id, "number", ALICE["number"])
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(self.simulator.login_count, 1)
        self.assertEqual(len(self.stored_tokens()), 1)
        for _worker in range(5):
            self.process().show_rewards_participant({"number": ALICE["number"]})
        self.assertEqual(self.simulator.login_count, 1)
        self.assertEqual(self.simulator.call_count(SHOW), 6)

    def test_a_refused_token_is_renewed_once_for_every_process(self):
        workers = [self.process() for _worker in range(3)]
        for worker in workers:
            worker.show_rewards_participant({"number": ALICE["number"]})
        self.assertEqual(self.simulator.login_count, 1)
        [first] = self.stored_tokens()
        self.simulator.expire_tokens()  # CRM.COM ends the session of the shared token
        for worker in workers:
            worker.show_rewards_participant({"number": ALICE["number"]})
        # The first worker refused logs in; the others take its new token.
        self.assertEqual(self.simulator.login_count, 2)
        [second] = self.stored_tokens()
        self.assertNotEqual(first, second)

    def test_a_process_with_a_valid_token_asks_the_database_nothing(self):
        worker = self.process()
        worker.show_rewards_participant({"number": ALICE["number"]})
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM crmcom_session_token")
        worker.show_rewards_participant({"number": ALICE["number"]})
        self.assertEqual(self.simulator.login_count, 1)
        self.assertEqual(self.stored_tokens(), [], "the worker used its own token")

    def test_two_processes_changing_the_token_wait_for_each_other(self):
        worker = self.process()
        worker.show_rewards_participant({"number": ALICE["number"]})
        [token] = self.stored_tokens()
        with self.registry.cursor() as cr:
            cr.execute("SELECT key FROM crmcom_session_token")
            [(key,)] = cr.fetchall()
        store = DatabaseTokenStore(self.env.registry)
        with self.registry.cursor() as other_process:
            # Another process is renewing the row when this one finds the token refused.
            other_process.execute(
                "UPDATE crmcom_session_token SET renew_at = renew_at WHERE key = %s", [key]
            )
            discard = threading.Thread(target=store.discard, args=(key, token))
            discard.start()
            discard.join(0.5)
            self.assertTrue(discard.is_alive(), "the discard waits for the other process")
            other_process.commit()
        discard.join(10)
        self.assertFalse(discard.is_alive())
        self.assertEqual(self.stored_tokens(), [], "the refused token is discarded, not kept")

    def test_no_user_reads_the_token(self):
        TillCalls(self.env).identify_customer(self.config.id, "number", ALICE["number"])
        admin = new_test_user(self.env, "token_admin", groups="base.group_system")
        manager = new_test_user(self.env, "token_manager", groups="point_of_sale.group_pos_manager")
        for user in (admin, manager, self.env.ref("base.user_admin")):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["crmcom.session.token"].with_user(user).search_read([], ["token"])
        [token] = self.stored_tokens()
        logged = self.env["crmcom.call.log"].sudo().search([])
        self.assertTrue(logged)
        for entry in logged:
            self.assertNotIn(token, str(entry.read()[0]))

    def test_a_database_error_in_the_store_never_stops_a_call(self):
        class NoConnectionLeft:  # the registry of a database whose pool is exhausted
            def cursor(self):
                raise psycopg2.OperationalError("connection pool is full")

        worker = CrmcomClient(
            self.simulator.base_url,
            web_api_key=TEST_WEB_API_KEY,
            token_cache=TokenCache(),
            token_store=DatabaseTokenStore(NoConnectionLeft()),
            timeout=(2, 5),
        )
        with self.assertLogs("odoo.addons.pos_crmcom_rewards.models.crmcom_session_token"):
            data = worker.show_rewards_participant({"number": ALICE["number"]})
        self.assertEqual(data["number"], ALICE["number"])
        self.assertEqual(self.simulator.login_count, 1)
