"""Where the till actions' addon overhead goes: cProfile of identify / preview in
one process (real registry cursor, in-process simulator at 0 ms), top functions by
cumulative time. Diagnostic only, not part of the table.

    python bench/profile_till.py CONF DB [N]
"""

import cProfile
import os
import pstats
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import odoo_tasks  # noqa: E402  (sets up sys.path for odoo)
from crmcom_simulator import Simulator  # noqa: E402

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402


def main():
    conf, db = sys.argv[1:3]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    odoo.tools.config.parse_config(["-c", conf, "--log-level=warn"])
    registry = Registry(db)
    sim = Simulator("test").start()
    try:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            odoo_tasks.set_url(env, sim.base_url)
            info = __import__("json").loads(env["ir.config_parameter"].get_param("pos_crmcom_bench.info"))
            cashier = env["res.users"].browse(info["cashier_id"])
            rewards = env["crmcom.rewards"].with_user(cashier)
            cfg = info["on"]["config_id"]
            alice = info["partners"]["alice"]
            lines = [{"product_id": info["coffee_id"], "qty": 2, "price_subtotal": 8.0,
                      "price_subtotal_incl": 8.0}]
            rewards.identify_customer(cfg, "access_token", "4000000000000001")
            for name, fn in (
                ("identify", lambda: rewards.identify_customer(cfg, "access_token", "4000000000000001")),
                ("preview", lambda: rewards.preview_order(
                    cfg, {"uuid": str(uuid.uuid4()), "partner_id": alice, "lines": lines})),
            ):
                prof = cProfile.Profile()
                t0 = time.perf_counter()
                prof.enable()
                for _ in range(n):
                    fn()
                    env.flush_all()
                prof.disable()
                print(f"\n=== {name}: {(time.perf_counter() - t0) * 1000 / n:.1f} ms/call in-process (profiled)")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            cr.rollback()
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
