# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The monitoring route (controllers/metrics.py) over real HTTP: who may read it,
what it says, and what it never says.

Each test starts from a clean slate inside its own transaction (every order back to
CRM.COM state "none", the call log emptied; rolled back afterwards), plants orders
and call-log rows with known states and times, and compares the figures the route
exposes with them exactly.
"""

import datetime
import re

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import SQL, mute_logger

from ..controllers.metrics import ROUTE
from ..models import crmcom_metrics
from ..models.trust import in_flow

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
ALLOWED_LABELS = {"state", "operation", "outcome", "quantile"}
PARTNER_NAME = "Zelda Quillfeather"
PARTNER_EMAIL = "zelda.quillfeather@example.com"
TOKEN = "tok-7c1e9f0b55-do-not-leak"
CARD = "4000000000007731"
PLANTED = (PARTNER_NAME, PARTNER_EMAIL, TOKEN, CARD)


def parse(body):
    """{(name, frozenset(labels)): value} of a text exposition; checks its format:
    every sample is well formed and belongs to a family with a TYPE line."""
    samples, types = {}, {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _hash, _type, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE line before it"
        pairs = dict(LABEL.findall(labels or ""))
        key = (name, frozenset(pairs.items()))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(value)
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


@tagged("post_install", "-at_install")
class TestCrmcomMetricsRoute(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()

        def user(login, groups):
            return new_test_user(cls.env, login=login, groups=groups)

        cls.admin = user("crmcom_metrics_admin", "base.group_user,base.group_system")
        cls.monitor = user(
            "crmcom_metrics_monitor", "base.group_user,pos_crmcom_rewards.group_crmcom_monitoring"
        )
        cls.cashier = user("crmcom_metrics_cashier", "base.group_user,point_of_sale.group_pos_user")
        cls.pos_manager = user(
            "crmcom_metrics_pos_manager", "base.group_user,point_of_sale.group_pos_manager"
        )
        cls.keys = {
            who: cls._api_key(getattr(cls, who))
            for who in ("admin", "monitor", "cashier", "pos_manager")
        }
        cls.config = cls.env["pos.config"].create({"name": "Metrics till"})
        cls.session = cls.env["pos.session"].create(
            {"config_id": cls.config.id, "user_id": cls.env.uid}
        )
        cls.partner = cls.env["res.partner"].create(
            {
                "name": PARTNER_NAME,
                "email": PARTNER_EMAIL,
                "crmcom_participant_id": "40000000000000000000000000007731",
                "crmcom_participant_number": "RP-METRICS-7731",
            }
        )
        cls.env["crmcom.access.token"].create({"code": CARD, "partner_id": cls.partner.id})

    @classmethod
    def _api_key(cls, user):
        # As the user's own "New API Key" does (Preferences > Account Security);
        # only administrators may have keys without an end date.
        until = datetime.datetime.now() + datetime.timedelta(days=1)
        return cls.env["res.users.apikeys"].with_user(user)._generate(None, "prometheus", until)

    def setUp(self):
        super().setUp()
        # A clean slate for exact figures (the test's transaction is rolled back).
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE pos_order SET crmcom_state = 'none' WHERE crmcom_state <> 'none'"
        )
        self.env.cr.execute("DELETE FROM crmcom_call_log")
        self.env.invalidate_all()

    # ------------------------------------------------------------------ helpers

    def scrape(self, key=None, authorization=None):
        headers = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if authorization:
            headers["Authorization"] = authorization
        self.env.flush_all()
        return self.url_open(ROUTE, headers=headers, allow_redirects=False)

    def plant_order(
        self, crmcom_state, state="paid", created=0, first_attempt=None, due=None, sent=None
    ):
        """An order in ``state`` / ``crmcom_state``: created ``created`` seconds ago,
        first attempt, next attempt and purchase sent that many seconds ago (negative:
        to come)."""
        order = in_flow(self.env["pos.order"]).create(
            {
                "session_id": self.session.id,
                "partner_id": self.partner.id,
                "amount_tax": 0.0,
                "amount_total": 10.0,
                "amount_paid": 10.0,
                "amount_return": 0.0,
                "crmcom_last_error": f"Card {CARD} of {PARTNER_NAME} refused",
            }
        )
        self.env.flush_all()

        def ago(seconds):
            if seconds is None:
                return SQL("NULL")
            return SQL("(now() AT TIME ZONE 'UTC') - make_interval(secs => %s)", seconds)

        self.env.cr.execute(
            SQL(
                """UPDATE pos_order SET state = %s, crmcom_state = %s, create_date = %s,
                          crmcom_first_attempt_at = %s, crmcom_next_attempt_at = %s,
                          crmcom_sent_at = %s
                    WHERE id = %s""",
                state,
                crmcom_state,
                ago(created),
                ago(first_attempt),
                ago(due),
                ago(sent),
                order.id,
            )
        )
        order.invalidate_recordset()
        return order

    def plant_call(self, operation, outcome="OK", duration_ms=10.0, ago=0, order=None):
        entry = (
            self.env["crmcom.call.log"]
            .sudo()
            .create(
                {
                    "operation": operation,
                    "http_method": "POST",
                    "outcome": outcome,
                    "success": outcome == "OK",
                    "duration_ms": duration_ms,
                    "http_status": 200 if outcome == "OK" else 400,
                    "error_message": False if outcome == "OK" else f"{TOKEN} {PARTNER_NAME}",
                    "request_body": f'{{"token": "{TOKEN}", "card": "{CARD}"}}',
                    "response_body": f'{{"name": "{PARTNER_NAME}", "email": "{PARTNER_EMAIL}"}}',
                    "company_id": self.env.company.id,
                    "pos_order_id": order.id if order else False,
                    "partner_id": self.partner.id,
                }
            )
        )
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """UPDATE crmcom_call_log
                      SET create_date = (now() AT TIME ZONE 'UTC') - make_interval(secs => %s)
                    WHERE id = %s""",
                ago,
                entry.id,
            )
        )
        return entry

    def db_now(self):
        self.env.cr.execute("SELECT EXTRACT(EPOCH FROM now() AT TIME ZONE 'UTC')")
        return float(self.env.cr.fetchone()[0])

    def plant_scenario(self):
        """Orders in every CRM.COM state and calls of every kind, with known times."""
        # The backlog: two paid orders to send, a draft waiting for its payment
        # (counted, but not part of the sender's backlog), a cancellation, a refund.
        sent_once = self.plant_order("pending", created=3000, first_attempt=1200, due=90)
        self.plant_order("pending", created=300, due=30)
        self.plant_order("pending", state="draft", created=5000)
        self.plant_order("cancel_pending", created=90000, first_attempt=86400, due=-600)
        self.plant_order("refund_pending", created=45, due=10)
        for _i in range(3):
            self.plant_order("failed", created=7200, first_attempt=7000)
        # Done with CRM.COM: not counted; two purchases sent within 5 minutes.
        self.plant_order("sent", created=7200, first_attempt=7100, sent=7100)
        self.plant_order("sent", created=200, first_attempt=190, sent=190)
        self.plant_order("sent", created=20, first_attempt=19, sent=19)
        self.plant_order("cancelled", created=7200)
        # Calls: successes 120 s ago, failures just now (the last success is 120 s
        # old), a code no label may hold, and a call of 10 minutes ago, out of the
        # 5-minute window.
        self.plant_call("authentication/web_api_key/token", duration_ms=120.0, ago=120)
        self.plant_call("authentication/web_api_key/token", "E1017", duration_ms=80.0)
        self.plant_call("authentication/token/release", duration_ms=5.0, ago=120)
        for duration in (10.0, 20.0, 30.0, 40.0):
            self.plant_call("rewards_participants/show", duration_ms=duration, ago=120)
        self.plant_call(
            "customer_events/purchases/create", duration_ms=200.0, ago=120, order=sent_once
        )
        self.plant_call(
            "customer_events/purchases/create", "TIMEOUT", duration_ms=5000.0, order=sent_once
        )
        self.plant_call("customer_events/purchases/create", 'Bad "code"\nwith spaces')
        self.plant_call("rewards_participants/show", duration_ms=999.0, ago=600)

    # -------------------------------------------------------------------- tests

    def test_admin_reads_the_figures_of_the_orders_and_calls(self):
        self.plant_scenario()
        now = self.db_now()

        response = self.scrape(self.keys["admin"])
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8"
        )
        self.assertNotIn("session_id", response.cookies, "a scrape opens no session")
        samples = parse(response.text)

        orders = {
            state: value(samples, "crmcom_orders", state=state)
            for state in crmcom_metrics.REPORTED_STATES
        }
        self.assertEqual(
            orders,
            {"pending": 3, "failed": 3, "cancel_pending": 1, "refund_pending": 1},
        )
        names = {name for name, _labels in samples}
        self.assertNotIn(("crmcom_orders", frozenset({("state", "sent")})), samples)
        self.assertNotIn(("crmcom_orders", frozenset({("state", "cancelled")})), samples)
        self.assertEqual(value(samples, "crmcom_orders_sent_recent"), 2)
        self.assertEqual(value(samples, "crmcom_orders_failed"), 3)
        self.assertEqual(value(samples, "crmcom_refunds_waiting"), 1)
        ages = {
            state: value(samples, "crmcom_backlog_oldest_age_seconds", state=state)
            for state in crmcom_metrics.BACKLOG_STATES
        }
        for state, expected in (
            ("pending", 1200),
            ("cancel_pending", 86400),
            ("refund_pending", 45),
        ):
            self.assertAlmostEqual(ages[state], expected, delta=1, msg=state)
        self.assertAlmostEqual(value(samples, "crmcom_backlog_overdue_seconds"), 90, delta=1)

        calls = {
            (dict(labels)["operation"], dict(labels)["outcome"]): count
            for (name, labels), count in samples.items()
            if name == "crmcom_calls_recent"
        }
        self.assertEqual(
            calls,
            {
                ("authentication/web_api_key/token", "OK"): 1,
                ("authentication/web_api_key/token", "E1017"): 1,
                ("authentication/token/release", "OK"): 1,
                ("rewards_participants/show", "OK"): 4,
                ("customer_events/purchases/create", "OK"): 1,
                ("customer_events/purchases/create", "TIMEOUT"): 1,
                ("customer_events/purchases/create", "OTHER"): 1,
            },
        )
        # The token release is a logout: not counted.
        self.assertEqual(value(samples, "crmcom_logins_recent", outcome="OK"), 1)
        self.assertEqual(value(samples, "crmcom_logins_recent", outcome="E1017"), 1)
        self.assertEqual(value(samples, "crmcom_window_seconds"), 300)

        show = "rewards_participants/show"
        # percentile_cont of 10, 20, 30, 40 ms (the 999 ms call is out of the window).
        for quantile, expected_ms in (("0.5", 25.0), ("0.95", 38.5), ("0.99", 39.7)):
            self.assertAlmostEqual(
                value(samples, "crmcom_call_duration_seconds", operation=show, quantile=quantile),
                expected_ms / 1000,
                places=6,
            )
        self.assertAlmostEqual(
            value(samples, "crmcom_call_duration_seconds_sum", operation=show), 0.1, places=6
        )
        self.assertEqual(value(samples, "crmcom_call_duration_seconds_count", operation=show), 4)
        create = "customer_events/purchases/create"
        self.assertEqual(value(samples, "crmcom_call_duration_seconds_count", operation=create), 3)
        self.assertAlmostEqual(
            value(samples, "crmcom_call_duration_seconds_sum", operation=create), 5.21, places=6
        )
        self.assertAlmostEqual(
            value(samples, "crmcom_last_success_timestamp_seconds"), now - 120, delta=1
        )
        self.assertIn("crmcom_metrics_collect_seconds", names)

    def test_no_customer_data_nor_secret(self):
        # The planted orders and calls all carry the customer's name, e-mail and
        # card, and a token, in their errors, bodies and partner.
        self.plant_scenario()
        for who in ("admin", "monitor"):
            with self.subTest(user=who):
                response = self.scrape(self.keys[who])
                self.assertEqual(response.status_code, 200, response.text)
                for planted in PLANTED:
                    self.assertNotIn(planted, response.text)
                # Labels: CRM.COM states, the operations called, outcomes (OK or an
                # error code), quantiles; nothing else (no partner, order, company).
                operations = set(self.env["crmcom.call.log"].sudo().search([]).mapped("operation"))
                for name, labels in parse(response.text):
                    for key, label in labels:
                        with self.subTest(name=name, label=key):
                            self.assertIn(key, ALLOWED_LABELS)
                            if key == "state":
                                self.assertIn(label, crmcom_metrics.REPORTED_STATES)
                            elif key == "operation":
                                self.assertIn(label, operations)
                            elif key == "outcome":
                                self.assertRegex(label, r"^(OK|OTHER|TIMEOUT|E\d+)$")
                            else:
                                self.assertIn(label, ("0.5", "0.95", "0.99"))

    def test_empty_backlog_and_no_call_yet(self):
        response = self.scrape(self.keys["admin"])
        self.assertEqual(response.status_code, 200, response.text)
        samples = parse(response.text)
        for state in crmcom_metrics.REPORTED_STATES:
            self.assertEqual(value(samples, "crmcom_orders", state=state), 0)
        for state in crmcom_metrics.BACKLOG_STATES:
            self.assertEqual(value(samples, "crmcom_backlog_oldest_age_seconds", state=state), 0)
        self.assertEqual(value(samples, "crmcom_backlog_overdue_seconds"), 0)
        self.assertEqual(value(samples, "crmcom_orders_sent_recent"), 0)
        self.assertEqual(value(samples, "crmcom_logins_recent", outcome="OK"), 0)
        names = {name for name, _labels in samples}
        self.assertNotIn("crmcom_calls_recent", names)
        self.assertNotIn("crmcom_last_success_timestamp_seconds", names)

    def test_monitoring_group_key_reads_the_figures(self):
        self.plant_order("failed")
        response = self.scrape(self.keys["monitor"])
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(value(parse(response.text), "crmcom_orders_failed"), 1)

    def test_group_is_a_choice_of_the_user_form(self):
        # A choice (selection) is shown without developer mode; a group without a
        # category would be a developer-mode checkbox.
        group = self.env.ref("pos_crmcom_rewards.group_crmcom_monitoring")
        kinds = [
            kind
            for _app, kind, groups, _block in self.env["res.groups"].get_groups_by_application()
            if group in groups
        ]
        self.assertEqual(kinds, ["selection"])

    def test_keys_of_other_users_are_forbidden(self):
        self.plant_order("failed")
        for who in ("cashier", "pos_manager"):
            with self.subTest(user=who):
                response = self.scrape(self.keys[who])
                self.assertEqual(response.status_code, 403, response.text)
                self.assertNotIn("crmcom_orders", response.text)

    @mute_logger("odoo.http")
    def test_no_key_or_a_wrong_key_is_unauthorized(self):
        wrong = self.keys["admin"][:-4] + ("0000" if self.keys["admin"][-4:] != "0000" else "1111")
        for what, authorization in (
            ("no key", None),
            ("wrong key", f"Bearer {wrong}"),
            ("made-up key", "Bearer not-a-key"),
            ("not a bearer", "Basic Y3JtY29tX21ldHJpY3NfYWRtaW46YWRtaW4="),
        ):
            with self.subTest(what):
                response = self.scrape(authorization=authorization)
                self.assertEqual(response.status_code, 401, response.text)
                self.assertNotIn("crmcom_orders", response.text)

    def test_queries_are_served_by_their_indexes(self):
        # Whatever the planner prefers on a small test table (a sequential or a
        # bitmap scan), each query must be able to read its own index and nothing
        # else: a query or an index that no longer matches would read the table, or
        # all of it, on a big database. The index on every order's state could
        # stand in for the order queries' partial index, and the call log's indexes
        # on operation and outcome give the grouping its order on a log full of
        # recent calls (a whole test run's): they are dropped for the test (rolled
        # back).
        self.env.cr.execute("DROP INDEX pos_order__crmcom_state_index")
        self.env.cr.execute("DROP INDEX crmcom_call_log__operation_index")
        self.env.cr.execute("DROP INDEX crmcom_call_log__outcome_index")
        self.env.cr.execute("SET LOCAL enable_seqscan = off")
        self.env.cr.execute("SET LOCAL enable_bitmapscan = off")
        for query, index in (
            (crmcom_metrics.ORDERS_PER_STATE, "pos_order_crmcom_metrics_open_idx"),
            (crmcom_metrics.BACKLOG, "pos_order_crmcom_metrics_open_idx"),
            (crmcom_metrics.sent_query(300), "pos_order__crmcom_sent_at_index"),
            (crmcom_metrics.calls_query(300), "crmcom_call_log_metrics_recent_idx"),
            (crmcom_metrics.latency_query(300), "crmcom_call_log_metrics_recent_idx"),
            (crmcom_metrics.LAST_SUCCESS, "crmcom_call_log_metrics_success_idx"),
        ):
            with self.subTest(index=index):
                self.env.cr.execute(SQL("EXPLAIN %s", query))
                plan = "\n".join(row[0] for row in self.env.cr.fetchall())
                self.assertRegex(plan, rf"Index Only Scan (Backward )?using {index} ")
                self.assertNotIn("Seq Scan", plan)
