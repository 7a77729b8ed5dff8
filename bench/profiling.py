"""Where the addon's time goes: cProfile of the till actions (identify, preview) or
of the backlog sender, in one process with a real registry cursor and the
in-process simulator at 0 ms; prints the top functions. Diagnostic only, not part
of the table; everything it writes is rolled back.

    python bench/profiling.py CONF DB till [N] [SORT]     N identify + N preview calls
    python bench/profiling.py CONF DB drain [N] [SORT]    N pending orders sent once
    python bench/profiling.py CONF DB calls [N] [SORT]    N identify, preview and spend
                                                          calls, each as a fresh request
                                                          (caches dropped), with their
                                                          queries listed per table
                                                          (PROFILE_SQL=1: the last call's
                                                          queries in full; PROFILE_STACK=
                                                          <text>: the stack of each query
                                                          holding <text>)

SORT is a pstats key (default cumulative; tottime is the other useful one). The
database is tools/bench's (it needs its setup: cashier, tills, template orders).
"""

# A command-line script: it reports with print().
# pylint: disable=print-used

import collections
import contextlib
import cProfile
import json
import os
import pstats
import re
import sys
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

import odoo_tasks  # noqa: E402  (sets up sys.path for odoo)
import run  # noqa: E402  (the till's order payload)
from crmcom_simulator import Simulator  # noqa: E402
from till_payload import preview_line  # noqa: E402

ALICE_CARD = "4000000000000001"  # an access token of the simulator's test scenario


def profiled(label, count, sort, function, flush):
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    done = function()
    flush()
    profile.disable()
    elapsed = time.perf_counter() - start
    per = done or count
    print(f"\n=== {label}: {elapsed * 1000 / per:.1f} ms each, {per / elapsed:.1f}/s (profiled)")
    pstats.Stats(profile).sort_stats(sort).print_stats(30)


def profile_till(env, info, n, sort):
    cashier = env["res.users"].browse(info["cashier_id"])
    till = env["pos.config"].with_user(cashier).browse(info["on"]["config_id"])
    lines = [preview_line(info["coffee_id"], 2, 4.0)]
    order = {"partner_id": info["partners"]["alice"], "lines": lines}
    till.crmcom_identify_customer("access_token", ALICE_CARD)  # warm up

    def identify():
        for _ in range(n):
            till.crmcom_identify_customer("access_token", ALICE_CARD)

    def preview():
        for _ in range(n):
            till.crmcom_preview_order(dict(order, uuid=str(uuid.uuid4())))

    profiled("identify", n, sort, identify, env.flush_all)
    profiled("preview", n, sort, preview, env.flush_all)


class QueryLog:
    """Every query of every cursor while on: (main cursor?, verb, table)."""

    def __init__(self, main_cr):
        self.main = main_cr._cnx
        self.on = False
        self.queries = []
        self.texts = []
        original = odoo.sql_db.Cursor.execute
        log = self

        def execute(cursor, query, params=None, log_exceptions=True):
            if not log.on:
                return original(cursor, query, params, log_exceptions)
            text = query.code if hasattr(query, "code") else str(query)
            if os.environ.get("PROFILE_STACK") and os.environ["PROFILE_STACK"] in text:
                traceback.print_stack(limit=30)  # who runs this query
            start = time.perf_counter()
            try:
                return original(cursor, query, params, log_exceptions)
            finally:
                took = time.perf_counter() - start
                log.queries.append(((cursor._cnx is log.main, *_verb_table(text)), took))
                log.texts.append(" ".join(text.split()))

        odoo.sql_db.Cursor.execute = execute

    @contextlib.contextmanager
    def recording(self):
        self.queries = []
        self.texts = []
        self.on = True
        try:
            yield self
        finally:
            self.on = False


def _verb_table(text):
    text = " ".join(text.split())
    verb = text.split(" ", 1)[0].upper()
    pattern = {
        "SELECT": r"\bFROM \"?(\w+)",
        "INSERT": r"INTO \"?(\w+)",
        "UPDATE": r"UPDATE \"?(\w+)",
        "DELETE": r"FROM \"?(\w+)",
    }.get(verb)
    match = re.search(pattern, text, re.IGNORECASE) if pattern else None
    table = match.group(1) if match else text[:40]
    if verb == "SELECT" and "FOR UPDATE" in text.upper():
        verb = "SELECT..FOR UPDATE"
    return verb, table


def profile_calls(env, info, n, sort):
    """identify, preview and spend as the RPC layer runs them: the cashier's
    environment, the caches of the previous call dropped, then the queries of each
    call (main cursor and the attempt journal's own cursors) and a cProfile."""
    cr = env.cr
    querylog = QueryLog(cr)
    cashier = info["cashier_id"]
    config_id = info["on"]["config_id"]
    alice = info["partners"]["alice"]
    products = [(info["coffee_id"], 2), (info["sandwich_id"], 1)]
    lines = [preview_line(p, q, price) for (p, q), price in zip(products, (4.0, 7.5), strict=True)]
    company_id = env["pos.config"].browse(config_id).company_id.id

    def till():
        # A new request: the cashier's context as the web client sends it, and a new
        # transaction (empty record cache, new environments), on the same cursor.
        cr.flush()
        cr.transaction = None
        context = {"lang": "en_US", "tz": "UTC", "allowed_company_ids": [company_id]}
        return odoo.api.Environment(cr, cashier, context)["pos.config"].browse(config_id)

    def draft():
        data = run.order_payload(info, "on", alice, products, state="draft")
        till().env["pos.order"].sync_from_ui([data])
        till().crmcom_preview_order({"uuid": data["uuid"], "partner_id": alice, "lines": lines})
        return data["uuid"]

    calls = {
        "identify": (
            lambda: None,
            lambda t, _a: t.crmcom_identify_customer("access_token", ALICE_CARD),
        ),
        "preview": (
            lambda: str(uuid.uuid4()),
            lambda t, u: t.crmcom_preview_order({"uuid": u, "partner_id": alice, "lines": lines}),
        ),
        "spend": (draft, lambda t, u: t.crmcom_spend_rewards(u, 1.0)),
    }
    for name, (prepare, call) in calls.items():
        arg = prepare()
        answer = call(till(), arg)  # warm up: registry caches, token
        assert answer.get("ok"), answer
        counts = collections.Counter()
        times = collections.Counter()
        totals = []
        profile = cProfile.Profile()
        elapsed = 0.0
        for _ in range(n):
            arg = prepare()
            t = till()
            with querylog.recording():
                start = time.perf_counter()
                profile.enable()
                answer = call(t, arg)
                t.env.flush_all()
                profile.disable()
                elapsed += time.perf_counter() - start
            assert answer.get("ok"), answer
            for key, took in querylog.queries:
                counts[key] += 1
                times[key] += took
            totals.append(len(querylog.queries))
        plain = []  # the same calls without the profiler
        for _ in range(n):
            arg = prepare()
            t = till()
            start = time.perf_counter()
            call(t, arg)
            t.env.flush_all()
            plain.append((time.perf_counter() - start) * 1000)
        main = sum(c for (is_main, *_q), c in counts.items() if is_main) / n
        print(
            f"\n=== {name}: {elapsed * 1000 / n:.1f} ms each (profiled), median"
            f" {sorted(plain)[n // 2]:.1f} ms (not profiled), queries per call:"
            f" {main:g} on the request's cursor, {sum(totals) / n - main:g} on others"
        )
        for (is_main, verb, table), count in sorted(counts.items(), key=lambda i: -i[1]):
            took = times[is_main, verb, table] * 1000 / n
            mark = "" if is_main else "(own cursor)"
            print(f"  {count / n:5.2g}  {took:6.2f} ms  {verb:<20} {table:<28} {mark}")
        if os.environ.get("PROFILE_SQL"):  # the queries of the last call, in full
            print("\n".join(f"    {text[:400]}" for text in querylog.texts))
        stats = pstats.Stats(profile).sort_stats(sort)
        stats.print_stats(25)
        stats.sort_stats("cumulative").print_stats(r"pos_crmcom|wt-|/flows/|/models/", 40)


def profile_drain(env, info, n, sort):
    cr = env.cr
    cr.execute(
        "UPDATE pos_order SET crmcom_state = 'none', crmcom_next_attempt_at = NULL"
        " WHERE crmcom_state IN ('pending', 'cancel_pending')"
    )
    template_ids = info.get("template_ids") or [
        order.id
        for order in env["pos.order"].search(
            [("state", "=", "paid"), ("partner_id.crmcom_account_number", "!=", False)],
            limit=2,
        )
    ]
    odoo_tasks._clone_orders(env, template_ids, n)
    orders = env["pos.order"]
    profiled(
        "backlog sender",
        n,
        sort,
        lambda: orders._crmcom_cron_send(batch_size=n, commit=False),
        env.flush_all,
    )


def main():
    conf, db, what = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    sort = sys.argv[5] if len(sys.argv) > 5 else "cumulative"
    odoo.tools.config.parse_config(["-c", conf, "--log-level=warn"])
    registry = Registry(db)
    sim = Simulator("test").start()
    try:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            odoo_tasks.set_url(env, sim.base_url)
            info = json.loads(env["ir.config_parameter"].get_param("pos_crmcom_bench.info"))
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM crmcom_attempt_journal")
            journal_max = cr.fetchone()[0]
            {"till": profile_till, "drain": profile_drain, "calls": profile_calls}[what](
                env, info, n, sort
            )
            cr.rollback()
            # The attempt journal commits its rows in cursors of their own.
            cr.execute("DELETE FROM crmcom_attempt_journal WHERE id > %s", [journal_max])
            cr.commit()  # pylint: disable=invalid-commit
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
