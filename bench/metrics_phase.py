"""``tools/bench --metrics``: the latency of the monitoring route on a big database.

Adds 100,000 orders and 200,000 call-log entries to the benchmark database
(bench/metrics_tasks.py fill: SQL generate_series, a till of their own), then
scrapes ``/pos_crmcom_rewards/metrics`` over HTTP with the API key of a user in
"CRM.COM monitoring", twice: right after the insert (statistics only, as before
autovacuum's first pass) and after VACUUM ANALYZE (the steady state autovacuum
keeps). A cashier's key (403: the same authentication, no figures) is the baseline
of what Odoo costs per request before the figures. Removes what it added at the
end. Prints one markdown table; asserts nothing but that the figures add up.
"""

# A command-line tool: printing the table is what it is for.
# pylint: disable=print-used

import os
import re
import subprocess
import time

import requests

ROUTE = "/pos_crmcom_rewards/metrics"


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _sample(body, name, labels=""):
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


def scrape(url, keys, n):
    """n timed GETs with each key of ``keys`` (monitoring, cashier), interleaved so
    that the machine's other work weighs on both alike, after 5 warm-ups each; one
    HTTP connection per key. Returns the ms per request of each key, the database's
    own time (crmcom_metrics_collect_seconds, ms) and the last figures."""
    sessions = [requests.Session() for _key in keys]
    wall = [[] for _key in keys]
    collect, body = [], ""
    for i in range(n + 5):
        for k, (key, expect) in enumerate(keys):
            started = time.perf_counter()
            response = sessions[k].get(
                url + ROUTE, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != expect:
                raise RuntimeError(f"{ROUTE}: HTTP {response.status_code}, expected {expect}")
            sessions[k].cookies.clear()
            if i < 5:
                continue
            wall[k].append(elapsed)
            if expect == 200:
                body = response.text
                collect.append(_sample(body, "crmcom_metrics_collect_seconds") * 1000)
    return wall, collect, body


def psql(db, command):
    subprocess.run(["psql", "-h", "127.0.0.1", "-d", db, "-qc", command], check=True)


def run(run_task, start_odoo, db, n_orders, n_calls, n_scrapes, log):
    """The rows of the table, and notes; ``run_task(task, *args)`` runs
    bench/metrics_tasks.py, ``start_odoo()`` returns (process, url)."""
    log(f"metrics: adding {n_orders} orders and {n_calls} call-log entries")
    started = time.perf_counter()
    filled = run_task("fill", str(n_orders), str(n_calls))
    fill_s = time.perf_counter() - started
    keys = filled["keys"]
    rows, notes, loads = [], [], []
    try:
        odoo_proc, url = start_odoo()
        try:
            for setting, command in (
                ("after the insert (ANALYZE only)", "ANALYZE pos_order, crmcom_call_log"),
                ("after VACUUM ANALYZE", "VACUUM ANALYZE pos_order, crmcom_call_log"),
            ):
                psql(db, command)
                log(f"metrics: {n_scrapes} scrapes {setting}")
                loads.append(os.getloadavg()[0])
                (wall, base), collect, body = scrape(
                    url, [(keys["monitor"], 200), (keys["cashier"], 403)], n_scrapes
                )
                rows.append(
                    [
                        setting,
                        f"{pct(wall, 50):.1f} / {pct(wall, 95):.1f} ms",
                        f"{pct(collect, 50):.2f} / {pct(collect, 95):.2f} ms",
                        f"{pct(base, 50):.1f} / {pct(base, 95):.1f} ms",
                        f"{pct(wall, 50) - pct(base, 50):.1f} ms",
                    ]
                )
            states = filled["states"]
            for state in ("failed", "pending", "cancel_pending", "refund_pending"):
                exposed = _sample(body, "crmcom_orders", f'{{state="{state}"}}')
                if exposed is None or exposed < states.get(state, 0):
                    raise RuntimeError(f"crmcom_orders{{state={state}}}: {exposed}, {states}")
            recent = sum(
                float(v) for v in re.findall(r"^crmcom_calls_recent\{[^}]*\} (\S+)$", body, re.M)
            )
            notes.append(
                f"Database: {filled['total_orders']:,} orders ({filled['orders']:,} added in"
                f" {fill_s:.1f} s: {', '.join(f'{s} {c:,}' for s, c in sorted(states.items()))}),"
                f" {filled['total_calls']:,} call-log entries ({filled['calls']:,} added,"
                f" {recent:,.0f} in the 5-minute window). {n_scrapes} scrapes per key and row,"
                " the two keys interleaved, after 5 warm-ups. Load average (1 min) at the start"
                f" of each row: {', '.join(f'{load:.1f}' for load in loads)}"
                f" ({os.cpu_count()} CPUs; other work on the machine slows every figure alike)."
            )
        finally:
            odoo_proc.terminate()
            odoo_proc.wait(30)
        explained = run_task("explain")
    finally:
        log("metrics: removing what was added")
        run_task("cleanup")
    return rows, explained, notes


def print_tables(rows, explained, notes):
    print()
    print(
        "| database state | route p50 / p95 (monitoring key, 200) | SQL p50 / p95"
        " (crmcom_metrics_collect_seconds) | same route, cashier key (403) p50 / p95"
        " | figures' cost p50 |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("| query (EXPLAIN ANALYZE, after VACUUM) | execution | index |")
    print("|---|---|---|")
    for name, result in explained.items():
        print(f"| {name} | {result['ms']:.2f} ms | {', '.join(result['indexes']) or '—'} |")
    print()
    for note in notes:
        print(note)
