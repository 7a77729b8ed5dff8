import http.server
import socket
import threading

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..crmcom_simulator import Fault
from .common import TEST_USER, CrmcomSimulatorMixin


@tagged("post_install", "-at_install")
class TestCrmcomSettings(CrmcomSimulatorMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.company = cls.env.company
        cls.configure_company(cls.company)

    def test_base_url_must_be_https_or_loopback_http(self):
        for good in (
            "https://crm.example.com",
            "https://crm.example.com/crmapi/rest/v2",
            "http://localhost:8080",
            "http://127.0.0.1:9000",
        ):
            self.company.crmcom_base_url = good
            self.assertEqual(self.company.crmcom_base_url, good)
        for bad in (
            "http://crm.example.com",
            "ftp://crm.example.com",
            "crm.example.com",
            "https://crm.example.com/?token=1",
            "https://",
            # Parsed as the HTTP library connects: these reach host.example, not loopback.
            "http://host.example\\@localhost/",
            "http://user:secret@localhost:8080",
            "https://user:secret@crm.example.com",
        ):
            with self.subTest(url=bad), self.assertRaises(ValidationError):
                self.company.crmcom_base_url = bad
                self.company.flush_recordset()

    def test_numbers_are_bounded(self):
        for field, value in (
            ("crmcom_connect_timeout", 0),
            ("crmcom_read_timeout", -1),
            ("crmcom_read_timeout", 301),
            ("crmcom_max_attempts", 0),
            ("crmcom_log_retention_days", 0),
        ):
            with self.subTest(field=field), self.assertRaises(ValidationError):
                with self.env.cr.savepoint():
                    self.company.write({field: value})

    def test_a_till_with_rewards_on_needs_its_unit(self):
        config = self.env["pos.config"].create({"name": "Till without unit"})
        with self.assertRaises(ValidationError):
            config.write({"crmcom_enabled": True, "crmcom_unit_value": "  "})
        config.write({"crmcom_enabled": True, "crmcom_unit_value": "SHOP1"})
        self.assertEqual(config._crmcom_unit_identifier(), {"alternative_code": "SHOP1"})
        self.assertTrue(config._crmcom_active())
        self.company.crmcom_enabled = False
        self.assertFalse(config._crmcom_active())

    def test_settings_page_writes_company_and_till(self):
        config = self.env["pos.config"].create({"name": "Settings till"})
        settings = self.env["res.config.settings"].create(
            {
                "pos_config_id": config.id,
                "crmcom_external_system": "MY-POS",
                "crmcom_web_api_key": "NEW-KEY",
                "pos_crmcom_enabled": True,
                "pos_crmcom_unit_key": "name",
                "pos_crmcom_unit_value": "Test Shop",
            }
        )
        settings.execute()
        self.assertEqual(self.company.crmcom_external_system, "MY-POS")
        self.assertEqual(self.company.crmcom_web_api_key, "NEW-KEY")
        self.assertEqual(config._crmcom_unit_identifier(), {"name": "Test Shop"})
        self.assertEqual(config._crmcom_external_system(), "MY-POS")

    # ------------------------------------------------------- connection test

    def _test_connection(self):
        settings = self.env["res.config.settings"].create({})
        action = settings.action_crmcom_test_connection()
        self.assertEqual(action["tag"], "display_notification")
        return action["params"]

    def test_connection_ok_with_web_api_key(self):
        params = self._test_connection()
        self.assertEqual(params["type"], "success", params)
        self.assertIn(self.simulator.base_url, params["message"])
        self.assertIn("Organisation: TESTORG", params["message"])
        self.assertEqual(self.simulator.login_count, 1)

    def test_connection_ok_with_username_and_password(self):
        self.company.write({"crmcom_auth_method": "password", "crmcom_web_api_key": False})
        self.company.write(
            {
                "crmcom_username": TEST_USER["username"],
                "crmcom_password": TEST_USER["password"],
                "crmcom_organisation": TEST_USER["organisation"],
            }
        )
        self.assertEqual(self._test_connection()["type"], "success")
        self.assertEqual(self.simulator.call_count("authentication/token"), 1)

    def test_connection_wrong_credentials(self):
        self.company.crmcom_web_api_key = "NOT-THE-KEY"
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("refused the credentials", params["message"])
        self.assertNotIn("NOT-THE-KEY", params["message"])

    def test_connection_missing_credentials(self):
        self.company.crmcom_web_api_key = False
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("Web API key is not set", params["message"])
        self.assertEqual(self.simulator.call_count(), 0)

    def test_connection_unreachable(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.company.crmcom_base_url = f"http://127.0.0.1:{port}"
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("cannot be reached", params["message"])

    def test_connection_timed_out(self):
        self.company.crmcom_read_timeout = 0.3
        self.simulator.inject(
            Fault(endpoint="authentication/web_api_key/token", kind="latency", delay=1.0)
        )
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("did not answer in time", params["message"])

    def test_connection_to_a_server_that_is_not_crmcom(self):
        class Html(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = b"<html>It works!</html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.company.crmcom_base_url = f"http://127.0.0.1:{server.server_port}"
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("did not answer like a CRM.COM server", params["message"])

    def test_only_administrators_test_the_connection(self):
        manager = new_test_user(
            self.env, login="crmcom_pos_manager", groups="point_of_sale.group_pos_manager"
        )
        with self.assertRaises(AccessError):
            self.company.with_user(manager)._crmcom_test_connection()
        self.assertEqual(self.simulator.login_count, 0)
