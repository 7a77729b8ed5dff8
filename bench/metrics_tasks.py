"""Odoo-side tasks of ``tools/bench --metrics`` (bench/metrics_phase.py), run in their
own process with a real registry cursor, like bench/odoo_tasks.py; never an Odoo test.

    python bench/metrics_tasks.py CONF DB fill ORDERS CALLS  -> JSON on the last line
    python bench/metrics_tasks.py CONF DB explain            -> JSON on the last line
    python bench/metrics_tasks.py CONF DB cleanup

``fill`` adds ORDERS orders (SQL generate_series, the columns pos_order requires and
those the metrics read) to a till of their own, and CALLS call-log entries over 30
days, about 10 calls a second in the last 5 minutes; makes the users and API keys the
scrapes use. ``cleanup`` removes all of it (``fill`` starts with it, so an
interrupted run leaves nothing behind for long). ``explain`` times each query of
crmcom.metrics in the database (EXPLAIN ANALYZE), the count of every state (sent
and cancelled too, which the route does not do), and the order queries once more
without their partial index (dropped in a transaction that is rolled back).
"""

# A script run by tools/bench in its own process, like `odoo-bin shell`: it commits
# the data it builds and prints its JSON result for the caller.
# pylint: disable=invalid-commit,print-used

import datetime
import json
import os
import sys

ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")
sys.path.insert(0, ODOO_PATH)

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402
from odoo.tools import SQL  # noqa: E402

TILL = "Bench metrics till"
MARK = "metrics-bench"  # the call-log entries' http_method, the API keys' name
MONITOR = "bench_monitor"
CASHIER = "bench_cashier"  # made by bench/odoo_tasks.py setup
RECENT_CALLS = 3000  # in the last 5 minutes
OPERATIONS = [
    "rewards_participants/show",
    "customer_events/purchases/preview",
    "customer_events/purchases/create",
    "customer_events/spend_requests/create",
    "customer_events/purchases/cancel",
    "customer_events/purchases/show",
    "customer_events/purchases/list",
    "authentication/web_api_key/token",
]
# Per thousand orders: 350 not for CRM.COM, then the CRM.COM states. A big backlog
# (1,500 purchases to send): the queries must not care.
STATES = """CASE
    WHEN mod(g, 1000) < 350 THEN 'none'
    WHEN mod(g, 1000) < 950 THEN 'sent'
    WHEN mod(g, 1000) < 970 THEN 'cancelled'
    WHEN mod(g, 1000) < 980 THEN 'failed'
    WHEN mod(g, 1000) < 995 THEN 'pending'
    WHEN mod(g, 1000) < 998 THEN 'cancel_pending'
    ELSE 'refund_pending' END"""


def _env(cr):
    return odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})


def _till_session(env):
    config = env["pos.config"].search([("name", "=", TILL)], limit=1)
    if not config:
        config = env["pos.config"].create({"name": TILL})
    session = env["pos.session"].search([("config_id", "=", config.id)], limit=1)
    if not session:
        session = env["pos.session"].create({"config_id": config.id, "user_id": env.uid})
    return session


def cleanup(env):
    session = _till_session(env)
    env.cr.execute("DELETE FROM pos_order WHERE session_id = %s", [session.id])
    orders = env.cr.rowcount
    env.cr.execute("DELETE FROM crmcom_call_log WHERE http_method = %s", [MARK])
    calls = env.cr.rowcount
    env.cr.execute("DELETE FROM res_users_apikeys WHERE name = %s", [MARK])
    return {"orders_removed": orders, "calls_removed": calls}


def fill(env, n_orders, n_calls):
    cleanup(env)
    session = _till_session(env)
    cr = env.cr
    cr.execute(
        SQL(
            f"""INSERT INTO pos_order (
                    name, pos_reference, uuid, session_id, config_id, company_id, state,
                    date_order, create_date, write_date, create_uid, write_uid,
                    amount_tax, amount_total, amount_paid, amount_return,
                    crmcom_state, crmcom_attempts, crmcom_first_attempt_at,
                    crmcom_next_attempt_at, crmcom_sent_at)
                SELECT 'METRICS-BENCH/' || g, 'METRICS-BENCH-' || g, md5('metrics-bench' || g),
                       %(session)s, %(config)s, %(company)s,
                       CASE WHEN s.crmcom_state = 'sent' THEN 'done' ELSE 'paid' END,
                       t.at, t.at, t.at, 1, 1, 0, 10, 10, 0,
                       s.crmcom_state,
                       CASE WHEN s.crmcom_state IN ('none', 'refund_pending') THEN 0 ELSE 1 END,
                       CASE WHEN s.crmcom_state IN ('none', 'refund_pending') THEN NULL
                            ELSE t.at + interval '1 second' END,
                       CASE WHEN s.crmcom_state IN ('pending', 'cancel_pending', 'refund_pending')
                            THEN now() AT TIME ZONE 'UTC' + make_interval(secs => mod(g, 600))
                       END,
                       CASE WHEN s.crmcom_state IN ('sent', 'cancelled')
                            THEN t.at + interval '2 seconds' END
                  FROM generate_series(1, %(n)s) g,
                       LATERAL (SELECT {STATES} AS crmcom_state) s,
                       LATERAL (SELECT now() AT TIME ZONE 'UTC'
                                       - make_interval(secs => (%(n)s - g) * 5184000.0 / %(n)s)
                                       AS at) t""",
            session=session.id,
            config=session.config_id.id,
            company=env.company.id,
            n=n_orders,
        )
    )
    orders = cr.rowcount
    # Calls: RECENT_CALLS in the last 5 minutes, the rest over 30 days; 3 in 100
    # failed (a timeout, an error code); 20 to 500 ms.
    cr.execute(
        SQL(
            """INSERT INTO crmcom_call_log (
                    operation, http_method, duration_ms, outcome, success, http_status,
                    company_id, create_date, write_date, create_uid, write_uid)
                SELECT (%(operations)s::varchar[])[1 + mod(g, %(n_operations)s)], %(mark)s,
                       20 + mod(g * 7919, 480),
                       CASE WHEN mod(g, 100) = 0 THEN 'TIMEOUT'
                            WHEN mod(g, 100) < 3 THEN 'E1017' ELSE 'OK' END,
                       mod(g, 100) >= 3, CASE WHEN mod(g, 100) >= 3 THEN 200 ELSE 400 END,
                       %(company)s,
                       now() AT TIME ZONE 'UTC' - CASE
                           WHEN g <= %(recent)s THEN make_interval(secs => g * 300.0 / %(recent)s)
                           ELSE make_interval(secs => 300 + (g - %(recent)s) * 2592000.0 / %(n)s)
                       END AS at,
                       now() AT TIME ZONE 'UTC', 1, 1
                  FROM generate_series(1, %(n)s) g""",
            operations=OPERATIONS,
            n_operations=len(OPERATIONS),
            mark=MARK,
            company=env.company.id,
            recent=min(RECENT_CALLS, n_calls),
            n=n_calls,
        )
    )
    calls = cr.rowcount
    users = env["res.users"]
    monitor = users.search([("login", "=", MONITOR)], limit=1) or users.create(
        {
            "name": "Bench Prometheus",
            "login": MONITOR,
            "groups_id": [
                (
                    6,
                    0,
                    [
                        env.ref("base.group_user").id,
                        env.ref("pos_crmcom_rewards.group_crmcom_monitoring").id,
                    ],
                )
            ],
        }
    )
    cashier = users.search([("login", "=", CASHIER)], limit=1)
    until = datetime.datetime.now() + datetime.timedelta(days=1)
    keys = {
        "monitor": env["res.users.apikeys"].with_user(monitor)._generate(None, MARK, until),
        "cashier": env["res.users.apikeys"].with_user(cashier)._generate(None, MARK, until),
    }
    cr.execute("SELECT count(*) FROM pos_order")
    total_orders = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM crmcom_call_log")
    total_calls = cr.fetchone()[0]
    cr.execute(
        "SELECT crmcom_state, count(*) FROM pos_order WHERE session_id = %s GROUP BY 1",
        [session.id],
    )
    states = dict(cr.fetchall())
    return {
        "orders": orders,
        "calls": calls,
        "total_orders": total_orders,
        "total_calls": total_calls,
        "states": states,
        "keys": keys,
    }


def _execution_ms(cr, query):
    cr.execute(SQL("EXPLAIN (ANALYZE, FORMAT JSON) %s", query))
    plan = cr.fetchone()[0][0]
    return plan["Execution Time"], plan["Plan"]


def _indexes(node):
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", ()):
        found |= _indexes(child)
    return found


def explain(env):
    from odoo.addons.pos_crmcom_rewards.models import crmcom_metrics as metrics

    cr = env.cr
    queries = {
        "orders per open state": metrics.ORDERS_PER_STATE,
        "backlog ages": metrics.BACKLOG,
        "purchases sent (5 min)": metrics.sent_query(metrics.WINDOW_SECONDS),
        "calls (5 min)": metrics.calls_query(metrics.WINDOW_SECONDS),
        "latency (5 min)": metrics.latency_query(metrics.WINDOW_SECONDS),
        "last success": metrics.LAST_SUCCESS,
    }
    result = {}
    for name, query in queries.items():
        _execution_ms(cr, query)  # warm
        ms, plan = _execution_ms(cr, query)
        result[name] = {"ms": ms, "indexes": sorted(_indexes(plan))}
    # Not done: every state but "none" (sent and cancelled too), which counts the
    # history at each scrape.
    every_state = SQL(
        "SELECT crmcom_state, count(*) FROM pos_order WHERE crmcom_state <> 'none' GROUP BY 1"
    )
    _execution_ms(cr, every_state)
    ms, plan = _execution_ms(cr, every_state)
    result["(not done) orders per state, sent and cancelled too"] = {
        "ms": ms,
        "indexes": sorted(_indexes(plan)) or [plan["Node Type"]],
    }
    cr.execute("DROP INDEX pos_order_crmcom_metrics_open_idx")
    for name, query in (
        ("orders per open state, without its partial index", metrics.ORDERS_PER_STATE),
        ("backlog ages, without the partial index", metrics.BACKLOG),
    ):
        _execution_ms(cr, query)
        ms, plan = _execution_ms(cr, query)
        result[name] = {"ms": ms, "indexes": sorted(_indexes(plan)) or [plan["Node Type"]]}
    cr.rollback()
    return result


def main():
    conf, db, task = sys.argv[1:4]
    odoo.tools.config.parse_config(["-c", conf, "--log-level=warn"])
    registry = Registry(db)
    with registry.cursor() as cr:
        env = _env(cr)
        if task == "fill":
            result = fill(env, int(sys.argv[4]), int(sys.argv[5]))
        elif task == "explain":
            result = explain(env)
        elif task == "cleanup":
            result = cleanup(env)
        else:
            raise SystemExit(f"unknown task {task}")
        cr.commit()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
