"""The queries of each till call, pinned: the till waits for every one of them
(README › Development › Design). A call that reads or writes more
than it did fails here; one that does less, too, so that the numbers stay true.

Each call runs as Odoo's RPC layer runs it: the cashier's environment, nothing in
the record cache (a new request), the process caches warm (registry caches, the
company settings, the CRM.COM token), then its pending writes flushed."""

from odoo.tests import new_test_user, tagged

from .common import ALICE, CrmcomPosCase

# Queries on the request's cursor. The attempt journal's own transactions (two
# per spend, before each CRM.COM create) are not counted here.
EXPECTED = {"identify": 4, "preview": 12, "spend": 19}


@tagged("post_install", "-at_install")
class TestCrmcomTillQueries(CrmcomPosCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cashier = new_test_user(
            cls.env(su=True),
            login="queries_cashier",
            groups="base.group_user,point_of_sale.group_pos_user",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )

    def till(self):
        """The till as a new request sees it."""
        self.env.flush_all()
        self.env.invalidate_all()
        env = self.env(
            user=self.cashier,
            context={"lang": "en_US", "tz": "UTC", "allowed_company_ids": self.company.ids},
        )
        return env["pos.config"].browse(self.config.id)

    def draft(self):
        """A saved draft, and the preview request the till sends for it."""
        data = self.create_ui_order_data([(self.coffee, 5)], customer=self.alice)
        data.update(state="draft", payment_ids=[], amount_paid=0)
        result = self.env["pos.order"].sync_from_ui([data])
        order = self.env["pos.order"].browse(result["pos.order"][0]["id"])
        lines = [
            {
                "product_id": line.product_id.id,
                "qty": line.qty,
                "price_subtotal": line.price_subtotal,
                "price_subtotal_incl": line.price_subtotal_incl,
            }
            for line in order.lines
        ]
        return {"uuid": order.uuid, "partner_id": self.alice.id, "lines": lines}

    def count(self, call):
        """(queries on the request's cursor, their text) of ``call(till)``."""
        till = self.till()
        with self.assertLogs("odoo.sql_db", "DEBUG") as logs:
            before = self.env.cr.sql_log_count
            answer = call(till)
            till.env.flush_all()
            count = self.env.cr.sql_log_count - before
        self.assertTrue(answer["ok"], answer)
        queries = [line.split("query: ", 1)[1][:160] for line in logs.output if "query: " in line]
        return count, "\n".join(queries)

    def assertQueries(self, name, call):
        count, queries = self.count(call)
        self.assertEqual(count, EXPECTED[name], f"{name}: {count} queries\n{queries}")

    def test_identify(self):
        identify = lambda till: till.crmcom_identify_customer("access_token", ALICE["card"])  # noqa: E731
        identify(self.till())  # warm: the customer's token and wallet are known now
        self.assertQueries("identify", identify)

    def test_preview(self):
        data = self.draft()
        self.till().crmcom_preview_order(data)  # warm
        self.assertQueries("preview", lambda till: till.crmcom_preview_order(data))

    def test_spend(self):
        def ready():
            data = self.draft()
            self.till().crmcom_preview_order(data)
            return data["uuid"]

        first = ready()
        self.assertTrue(self.till().crmcom_spend_rewards(first, 1.0)["ok"])  # warm
        uuid = ready()
        self.assertQueries("spend", lambda till: till.crmcom_spend_rewards(uuid, 1.0))
