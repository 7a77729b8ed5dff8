"""Odoo-side tasks of tools/bench, run in their own process with a real registry
cursor (like `odoo-bin shell`), never as Odoo tests.

    python bench/odoo_tasks.py CONF DB setup SIM_URL          -> JSON on the last line
    python bench/odoo_tasks.py CONF DB set-url URL
    python bench/odoo_tasks.py CONF DB drain SIM_URL N LATENCY -> JSON on the last line
"""

# A script run by tools/bench in its own process, like `odoo-bin shell`: it commits
# the data it builds and prints its JSON result for the caller.
# pylint: disable=invalid-commit,print-used

import json
import os
import resource
import sys
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")
sys.path.insert(0, ODOO_PATH)

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

WEB_API_KEY = "EE73C0AE64524371B5DDEFF5F7BB2192"  # simulator test scenario
CASHIER = ("bench_cashier", "bench_cashier")
PARTNERS = 10_000
PEOPLE = {
    "alice": ("Alice Adams", "40000000000000000000000000000001", "RP0001", "ACR0001"),
    "bob": ("Bob Brown", "40000000000000000000000000000002", "RP0002", "ACR0002"),
}


def _env(cr):
    return odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})


def set_url(env, url):
    env.company.write(
        {
            "crmcom_enabled": True,
            "crmcom_base_url": url,
            "crmcom_auth_method": "web_api_key",
            "crmcom_web_api_key": WEB_API_KEY,
            "crmcom_connect_timeout": 2.0,
            "crmcom_read_timeout": 5.0,
            "crmcom_fallback_product_code": "DEFAULT",
        }
    )


def setup(env, url):
    set_url(env, url)
    ICP = env["ir.config_parameter"]
    info = ICP.get_param("pos_crmcom_bench.info")
    if info:
        info = json.loads(info)
        # Re-open the sessions if someone closed them.
        for key in ("on", "off"):
            config = env["pos.config"].browse(info[key]["config_id"])
            if not config.current_session_id:
                info[key]["session_id"] = _open_session(env, config, info["cashier_id"])
        # Draft orders left by earlier runs (spend phase) would be loaded by the till
        # ON only: remove them so that both tills load the same kind of data.
        sessions = [info[key]["session_id"] for key in ("on", "off")]
        env.cr.execute(
            "DELETE FROM pos_order WHERE state = 'draft' AND session_id = ANY(%s)", (sessions,)
        )
        ICP.set_param("pos_crmcom_bench.info", json.dumps(info))
        return info
    Product = env["product.product"]
    coffee = Product.create(
        {
            "name": "Bench Coffee",
            "available_in_pos": True,
            "lst_price": 4.0,
            "taxes_id": [(5, 0, 0)],
            "default_code": "COFFEE",
        }
    )
    sandwich = Product.create(
        {
            "name": "Bench Sandwich",
            "available_in_pos": True,
            "lst_price": 7.5,
            "taxes_id": [(5, 0, 0)],
            "crmcom_product_code": "SANDWICH",
        }
    )
    cashier = env["res.users"].create(
        {
            "name": "Bench Cashier",
            "login": CASHIER[0],
            "password": CASHIER[1],
            "groups_id": [
                (6, 0, [env.ref("base.group_user").id, env.ref("point_of_sale.group_pos_user").id])
            ],
        }
    )
    people = {}
    for key, (name, pid, number, account) in PEOPLE.items():
        people[key] = (
            env["res.partner"]
            .create(
                {
                    "name": name,
                    "crmcom_participant_id": pid,
                    "crmcom_participant_number": number,
                    "crmcom_account_number": account,
                }
            )
            .id
        )
    # 10,000 customers carrying CRM.COM identities (participant, account, wallet,
    # one access token each), created in batches.
    for start in range(0, PARTNERS, 1000):
        partners = env["res.partner"].create(
            [
                {
                    "name": f"Bench Customer {i:05d}",
                    "email": f"bench{i:05d}@example.com",
                    "crmcom_participant_id": f"9{i:031d}",
                    "crmcom_participant_number": f"RPB{i:05d}",
                    "crmcom_account_number": f"ACB{i:05d}",
                    "crmcom_wallet_balance": float(i % 50),
                }
                for i in range(start, start + 1000)
            ]
        )
        env["crmcom.access.token"].create(
            [{"code": f"CARD-B{p.crmcom_participant_number}", "partner_id": p.id} for p in partners]
        )
        env.cr.commit()
    info = {
        "cashier_id": cashier.id,
        "coffee_id": coffee.id,
        "sandwich_id": sandwich.id,
        "partners": people,
    }
    for key, enabled in (("on", True), ("off", False)):
        config, cash = _create_till(
            env,
            f"Bench till {key.upper()}",
            f"Cash Bench {key.upper()}",
            enabled=enabled,
            unit_value="SHOP1",
            external_system="ODOO-BENCH",
        )
        info[key] = {
            "config_id": config.id,
            "session_id": _open_session(env, config, cashier.id),
            "cash_pm_id": cash.id,
            "pricelist_id": config.pricelist_id.id,
        }
    ICP.set_param("pos_crmcom_bench.info", json.dumps(info))
    return info


def _create_till(env, name, cash_journal, *, enabled, unit_value, external_system):
    """A till with a cash journal of its own, CRM.COM Rewards on or off at the
    simulator's unit ``unit_value``: (pos.config, its cash payment method)."""
    journal, pm_ids = env["pos.config"]._create_journal_and_payment_methods(
        cash_journal_vals={"name": cash_journal, "show_on_dashboard": False}
    )
    config = env["pos.config"].create(
        {
            "name": name,
            "journal_id": journal.id,
            "payment_method_ids": pm_ids,
            "crmcom_enabled": enabled,
            "crmcom_unit_key": "alternative_code",
            "crmcom_unit_value": unit_value,
            "crmcom_external_system": external_system,
        }
    )
    cash = config.payment_method_ids.filtered(
        lambda pm: pm.is_cash_count and not pm.split_transactions
    )[:1]
    return config, cash


def _open_session(env, config, cashier_id):
    session = env["pos.session"].create({"config_id": config.id, "user_id": cashier_id})
    session.set_opening_control(0, "")
    return session.id


def _clone_orders(env, template_ids, n):
    """n paid, pending orders cloned in SQL from the template orders (fast)."""
    cr = env.cr
    cr.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'pos_order'"
        " AND column_name <> 'id'"
    )
    cols = [r[0] for r in cr.fetchall()]
    override = {
        "name": "o.name || '/B' || g",
        "pos_reference": "'BENCH-' || %(run)s || '-' || lpad(g::text, 6, '0')",
        "uuid": "md5(%(run)s || o.id || '-' || g)",
        "access_token": "md5('t' || %(run)s || o.id || '-' || g)",
        "crmcom_state": "'pending'",
        "crmcom_reference": "NULL",
        "crmcom_next_attempt_at": "now() at time zone 'UTC' - interval '1 minute'",
        "crmcom_attempts": "0",
        "crmcom_first_attempt_at": "NULL",
        "crmcom_purchase_id": "NULL",
        "crmcom_purchase_number": "NULL",
    }
    select = ", ".join(override.get(c, f"o.{c}") for c in cols)
    run = uuidlib.uuid4().hex[:8]
    cr.execute(
        """CREATE TEMP TABLE bench_map AS
            SELECT g, o.id AS src FROM generate_series(1, %(n)s) g
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM pos_order
                  WHERE id = ANY(%(ids)s)) o ON o.k = g %% %(m)s""",
        {"n": n, "ids": template_ids, "m": len(template_ids)},
    )
    cr.execute(
        f"""WITH ins AS (
              INSERT INTO pos_order ({", ".join(cols)})
              SELECT {select} FROM bench_map m JOIN pos_order o ON o.id = m.src
              ORDER BY m.g
              RETURNING id, pos_reference)
            SELECT id, pos_reference FROM ins""",
        {"run": run},
    )
    new = cr.fetchall()
    new_ids = [r[0] for r in new]
    # lines: same lines as the template order, new uuids
    cr.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'pos_order_line'"
        " AND column_name NOT IN ('id', 'order_id')"
    )
    lcols = [r[0] for r in cr.fetchall()]
    lover = {"uuid": "md5('l' || l.id || '-' || n.id)"}
    lselect = ", ".join(lover.get(c, f"l.{c}") for c in lcols)
    cr.execute(
        f"""INSERT INTO pos_order_line (order_id, {", ".join(lcols)})
            SELECT n.id, {lselect}
            FROM pos_order n
            JOIN bench_map m
              ON n.pos_reference = 'BENCH-' || %(run)s || '-' || lpad(m.g::text, 6, '0')
            JOIN pos_order_line l ON l.order_id = m.src""",
        {"run": run},
    )
    cr.execute("DROP TABLE bench_map")
    env.invalidate_all()
    return new_ids


def _status_kb(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _reset_peak_rss():
    """Reset the peak RSS (VmHWM) so the drain's own peak can be read; returns the
    RSS now (kB). Falls back to ru_maxrss where /proc cannot do it."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return _status_kb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss():
    try:
        return _status_kb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def drain(registry, url, n, latency, template_ids):
    import requests

    from odoo.addons.pos_crmcom_rewards.crmcom import CrmcomClient, default_token_cache

    requests.post(f"{url}/_simulator/reset", timeout=10)
    requests.post(f"{url}/_simulator/config", json={"latency": latency}, timeout=10)
    default_token_cache.clear()
    with registry.cursor() as cr:
        env = _env(cr)
        set_url(env, url)
        parallel = env.company.crmcom_parallel_requests
        # nothing else pending: only the bench's orders are drained
        cr.execute(
            "UPDATE pos_order SET crmcom_state = 'none', crmcom_next_attempt_at = NULL"
            " WHERE crmcom_state IN ('pending', 'cancel_pending')"
        )
        ids = _clone_orders(env, template_ids, n)
        cr.commit()
        # The direct loop's purchases: the addon's payloads, other reference numbers.
        orders = env["pos.order"].browse(ids)
        purchases = []
        for order in orders:
            p = order._crmcom_purchase(reference=order.pos_reference + "-direct")
            purchases.append(p)
        cr.commit()

    rss0 = _reset_peak_rss()
    start = time.perf_counter()
    with registry.cursor() as cr:
        env = _env(cr)
        orders = env["pos.order"]
        runs = 0
        while orders._crmcom_cron_send(commit=True):  # the cron's own batch size
            runs += 1
        cr.commit()
    drain_s = time.perf_counter() - start
    rss1 = _peak_rss()

    state = requests.get(f"{url}/_simulator/state", timeout=60).json()["data"]
    with registry.cursor() as cr:
        env = _env(cr)
        orders = env["pos.order"].browse(ids)
        refs = orders.mapped("pos_reference")
        states = {}
        for s in orders.mapped("crmcom_state"):
            states[s] = states.get(s, 0) + 1
        wallet_ok = None
    posted = {}
    for p in state["purchases"]:
        if p.get("life_cycle_state") == "POSTED":
            posted[p["reference_number"]] = posted.get(p["reference_number"], 0) + 1
    exactly_one = sum(1 for r in refs if posted.get(r) == 1)
    calls_drain = len(state["calls"])
    # What the simulator measured of each purchase it served (latency included).
    served = sorted(
        call["duration"] * 1000
        for call in state["calls"]
        if call["endpoint"] == "customer_events/purchases/create"
    )
    logins_drain = state.get("login_count")
    peak_in_flight = state.get("peak_in_flight")

    # The same create_purchase calls straight with the client, as many in flight as
    # the sender has: the ceiling of this machine, simulator and setting.
    client = CrmcomClient(url, web_api_key=WEB_API_KEY, timeout=(2.0, 5.0))
    client.login()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for _done in pool.map(client.create_purchase, purchases):
            pass
    direct_s = time.perf_counter() - start
    return {
        "n": n,
        "latency": latency,
        "drain_s": drain_s,
        "drain_eps": n / drain_s,
        "direct_s": direct_s,
        "direct_eps": n / direct_s,
        "rss_delta_kb": rss1 - rss0,
        "rss_peak_kb": rss1,
        "states": states,
        "exactly_one": exactly_one,
        "calls": calls_drain,
        "logins": logins_drain,
        "cron_runs": runs,
        "peak_in_flight": peak_in_flight,
        "parallel_requests": parallel,
        "wallet_ok": wallet_ok,
        "served_ms_p50": served[len(served) // 2] if served else None,
    }


def main():
    conf, db, task = sys.argv[1:4]
    odoo.tools.config.parse_config(["-c", conf, "--log-level=warn"])
    registry = Registry(db)
    if task == "setup":
        with registry.cursor() as cr:
            info = setup(_env(cr), sys.argv[4])
            cr.commit()
        print(json.dumps(info))
    elif task == "set-url":
        with registry.cursor() as cr:
            set_url(_env(cr), sys.argv[4])
            cr.commit()
    elif task == "drain":
        url, n, latency = sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
        template_ids = [int(x) for x in sys.argv[7].split(",")]
        print(json.dumps(drain(registry, url, n, latency, template_ids)))
    else:
        raise SystemExit(f"unknown task {task}")


if __name__ == "__main__":
    main()
