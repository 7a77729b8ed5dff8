"""Where the addon's time goes: cProfile of the till actions (identify, preview) or
of the backlog sender, in one process with a real registry cursor and the
in-process simulator at 0 ms; prints the top functions. Diagnostic only, not part
of the table; everything it writes is rolled back.

    python bench/profiling.py CONF DB till [N] [SORT]     N identify + N preview calls
    python bench/profiling.py CONF DB drain [N] [SORT]    N pending orders sent once

SORT is a pstats key (default cumulative; tottime is the other useful one). The
database is tools/bench's (it needs its setup: cashier, tills, template orders).
"""

# A command-line script: it reports with print().
# pylint: disable=print-used

import cProfile
import json
import os
import pstats
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

import odoo_tasks  # noqa: E402  (sets up sys.path for odoo)
from crmcom_simulator import Simulator  # noqa: E402

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
    lines = [
        {
            "product_id": info["coffee_id"],
            "qty": 2,
            "price_subtotal": 8.0,
            "price_subtotal_incl": 8.0,
        }
    ]
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
            {"till": profile_till, "drain": profile_drain}[what](env, info, n, sort)
            cr.rollback()
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
