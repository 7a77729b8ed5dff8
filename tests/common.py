"""Shared set-up of the Odoo tests: a CRM.COM simulator over real HTTP on loopback,
a company configured against it, and a POS till selling real orders."""

from urllib.parse import urlsplit

from odoo.tests import common as odoo_test_common

from odoo.addons.point_of_sale.tests.common import TestPoSCommon

from ..crmcom import default_token_cache
from ..crmcom_simulator import Simulator

TEST_WEB_API_KEY = "EE73C0AE64524371B5DDEFF5F7BB2192"
TEST_USER = {"username": "pos_user", "password": "pos_secret", "organisation": "TESTORG"}
ALICE = {
    "id": "40000000000000000000000000000001",
    "number": "RP0001",
    "account_number": "ACR0001",
    "card": "4000000000000001",
    "phone": "+35799000001",
    "name": "Alice Adams",
    "balance": 20.0,
}
BOB = {"number": "RP0002", "card": "4000000000000002", "name": "Bob Brown"}
# The Odoo suite runs against a CRM.COM stricter than the simulator's defaults, as
# strict as its documentation (crmcom_simulator/README.md, "Strict switches"): unique
# external references, answers without the inferred fields, a clock behind UTC,
# error codes of another vocabulary than the client's guesses, session errors with
# HTTP 401, amounts of two decimals and known products only.
STRICT_CRMCOM = {
    "unique_external_system_reference_numbers": True,
    "omit_inferred_fields": ["total_additional_spend_amount"],
    "timezone": "America/New_York",
    "error_codes": {
        "INVALID_TOKEN": "E1017",
        "ACCESS_TOKEN_NOT_FOUND": "ACCESS_TOKEN_NOT_FOUND",
        "NOT_FOUND": "E0404",
        "NOT_POSTED": "E2203",
    },
    "session_error_http_status": 401,
    "strict": True,
}


class TillCalls:
    """The till's CRM.COM calls as the browser makes them: methods of the till's own
    ``pos.config`` record (``[[config_id], ...]``), read by Odoo's RPC layer as
    ``env["pos.config"].browse(ids)``."""

    def __init__(self, env):
        self.env = env

    def _till(self, config_id):
        return self.env["pos.config"].browse(config_id)

    def identify_customer(self, config_id, kind, value):
        return self._till(config_id).crmcom_identify_customer(kind, value)

    def preview_order(self, config_id, order_data):
        return self._till(config_id).crmcom_preview_order(order_data)

    def spend_order(self, config_id, order_uuid, amount):
        return self._till(config_id).crmcom_spend_rewards(order_uuid, amount)

    def cancel_order_rewards(self, config_id, order_uuid):
        return self._till(config_id).crmcom_cancel_redemption(order_uuid)


class CrmcomSimulatorMixin:
    """Starts one simulator for the class (test scenario) and resets it before each
    test, with an empty token cache so login counts are the test's own."""

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        # Odoo's test harness raises every HTTP timeout below 10 s to 10 s (and
        # cannot read (connect, read) tuples): calls to the loopback simulator keep
        # the client's own timeouts, which the tests are about.
        if urlsplit(request.url).hostname in ("127.0.0.1", "localhost"):
            return odoo_test_common._super_send(session, request, **kwargs)
        return super()._request_handler(session, request, **kwargs)

    @classmethod
    def start_simulator(cls):
        cls.simulator = Simulator("test", settings=STRICT_CRMCOM).start()
        cls.addClassCleanup(cls.simulator.stop)
        # The attempt journal is written in transactions of its own (committed,
        # also under a test): what the class writes there is removed after it.
        with cls.registry.cursor() as cr:
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM crmcom_attempt_journal")
            journal_max = cr.fetchone()[0]
        cls.addClassCleanup(cls._remove_journal_rows, journal_max)

    @classmethod
    def _remove_journal_rows(cls, after_id):
        with cls.registry.cursor() as cr:
            cr.execute("DELETE FROM crmcom_attempt_journal WHERE id > %s", [after_id])

    def setUp(self):
        super().setUp()
        self.simulator.reset()
        # The shared token too (kept in transactions of its own): logins are the test's.
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM crmcom_session_token")
        default_token_cache.clear()

    @classmethod
    def configure_company(cls, company, **overrides):
        company.sudo().write(
            {
                "crmcom_enabled": True,
                "crmcom_base_url": cls.simulator.base_url,
                "crmcom_auth_method": "web_api_key",
                "crmcom_web_api_key": TEST_WEB_API_KEY,
                "crmcom_connect_timeout": 2.0,
                "crmcom_read_timeout": 5.0,
                **overrides,
            }
        )


class CrmcomPosCase(CrmcomSimulatorMixin, TestPoSCommon):
    """A till (``self.config``) with CRM.COM on, unit SHOP1, and an open session."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.configure_company(cls.company)
        cls.config = cls.basic_config
        cls.config.write(
            {
                "crmcom_enabled": True,
                "crmcom_unit_key": "alternative_code",
                "crmcom_unit_value": "SHOP1",
                "crmcom_external_system": "ODOO-TEST-TILL",
            }
        )
        cls.coffee = cls.create_product(
            "Coffee", cls.categ_basic, 4.0, tax_ids=cls.taxes["tax10"].ids
        )
        cls.coffee.default_code = "COFFEE"
        cls.sandwich = cls.create_product(
            "Sandwich", cls.categ_basic, 7.5, tax_ids=cls.taxes["tax7"].ids
        )
        cls.sandwich.crmcom_product_code = "SANDWICH"
        cls.sandwich.default_code = "INTERNAL-SW"
        cls.alice = cls.env["res.partner"].create(
            {
                "name": ALICE["name"],
                "crmcom_participant_id": ALICE["id"],
                "crmcom_participant_number": ALICE["number"],
                "crmcom_account_number": ALICE["account_number"],
            }
        )

    def setUp(self):
        super().setUp()
        self.open_new_session()

    def drain(self):
        """Run the sender as its cron does (without the commits a test cannot make)."""
        return self.env["pos.order"]._crmcom_cron_send(commit=False)

    def sell_refund(self, order, quantities=None):
        """Refund ``order`` at the till: negative lines pointing at the sold ones,
        ``quantities`` by product (default: everything)."""
        lines = []
        for line in order.lines:
            qty = (quantities or {}).get(line.product_id, line.qty)
            if qty:
                lines.append(
                    {"product": line.product_id, "quantity": -qty, "refunded_orderline_id": line.id}
                )
        data = self.create_ui_order_data(lines, customer=order.partner_id)
        return self.env["pos.order"].browse(
            self.env["pos.order"].sync_from_ui([data])["pos.order"][0]["id"]
        )

    def pay_draft(self, order, lines):
        """Pay a draft order as the till does: its lines become ``lines``."""
        data = self.create_ui_order_data(lines, customer=order.partner_id, uuid=order.uuid)
        data.update(name=order.pos_reference, access_token=order.access_token)
        data["lines"] = [(2, line.id) for line in order.lines] + data["lines"]
        self.env["pos.order"].sync_from_ui([data])
        return order

    def sell(self, lines, customer=None, **kwargs):
        """A paid order synced the way the till does (``sync_from_ui``)."""
        data = self.create_ui_order_data(lines, customer=customer or self.alice, **kwargs)
        result = self.env["pos.order"].sync_from_ui([data])
        return self.env["pos.order"].browse(result["pos.order"][0]["id"])
