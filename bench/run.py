"""tools/bench driver: starts the CRM.COM simulator and an Odoo HTTP server on
127.0.0.1, measures the till actions, order sync, POS load and backlog drain, and
prints one markdown table.  Not an Odoo test (nothing here is imported by tests/).
"""

# A command-line tool: printing the table is what it is for.
# pylint: disable=print-used

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib

import requests

import metrics_phase
from till_payload import order_line, preview_line, sync_payload

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")
TASKS = os.path.join(REPO, "bench", "odoo_tasks.py")
METRICS_TASKS = os.path.join(REPO, "bench", "metrics_tasks.py")
ALICE_CARD = "4000000000000001"

CHILDREN = []


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# ----------------------------------------------------------------- processes


def start_simulator(logdir):
    port_file = os.path.join(tempfile.mkdtemp(prefix="bench-sim-"), "port")
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "crmcom_simulator",
            "--scenario",
            "test",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            port_file,
            "--latency",
            "0",
        ],
        cwd=REPO,
        stdout=open(os.path.join(logdir, "simulator.log"), "w"),
        stderr=subprocess.STDOUT,
    )
    CHILDREN.append(proc)
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, f"http://127.0.0.1:{int(open(port_file).read().strip())}"
        time.sleep(0.05)
    raise RuntimeError("simulator did not start")


def start_odoo(conf, db, logdir):
    port = free_port()
    proc = subprocess.Popen(
        [
            PY,
            os.path.join(ODOO_PATH, "odoo-bin"),
            "-c",
            conf,
            "-d",
            db,
            f"--db-filter=^{db}$",
            "--http-interface=127.0.0.1",
            f"--http-port={port}",
            f"--gevent-port={free_port()}",
            "--workers=0",
            "--max-cron-threads=0",
            "--log-level=warn",
            f"--logfile={os.path.join(logdir, 'odoo-http.log')}",
        ],
        cwd=REPO,
    )
    CHILDREN.append(proc)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        with contextlib.suppress(requests.RequestException):  # not listening yet
            if requests.get(f"{url}/web/webclient/version_info", timeout=2).ok or True:
                r = requests.post(
                    f"{url}/web/webclient/version_info",
                    json={"jsonrpc": "2.0", "params": {}},
                    timeout=2,
                )
                if r.ok:
                    return proc, url
        if proc.poll() is not None:
            raise RuntimeError("odoo server exited; see odoo-http.log")
        time.sleep(0.2)
    raise RuntimeError("odoo did not start")


def stop_children():
    for proc in reversed(CHILDREN):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_task(conf, db, *args, tasks=TASKS):
    out = subprocess.run([PY, tasks, conf, db, *args], cwd=REPO, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"odoo_tasks {args[0]} failed:\n{out.stderr[-4000:]}")
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


# ----------------------------------------------------------------- JSON-RPC


class Rpc:
    def __init__(self, url, db, login, password):
        self.url = url
        self.s = requests.Session()
        self._id = 0
        r = self.s.post(
            f"{url}/web/session/authenticate",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"db": db, "login": login, "password": password},
            },
            timeout=30,
        )
        r.raise_for_status()
        if r.json().get("error"):
            raise RuntimeError(f"login {login}: {r.json()['error']}")

    def call(self, model, method, args=(), kwargs=None, timeout=120):
        self._id += 1
        r = self.s.post(
            f"{self.url}/web/dataset/call_kw/{model}/{method}",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "id": self._id,
                "params": {
                    "model": model,
                    "method": method,
                    "args": list(args),
                    "kwargs": kwargs or {},
                },
            },
            timeout=timeout,
        )
        r.raise_for_status()
        body = r.json()
        if body.get("error"):
            err = body["error"].get("data", {}).get("message") or body["error"]
            raise RuntimeError(f"{model}.{method}: {err}")
        return body["result"]

    def timed(self, model, method, args=(), kwargs=None):
        t0 = time.perf_counter()
        result = self.call(model, method, args, kwargs)
        return (time.perf_counter() - t0) * 1000, result


class Sim:
    def __init__(self, url):
        self.url = url
        self.s = requests.Session()

    def state(self):
        return self.s.get(f"{self.url}/_simulator/state", timeout=60).json()["data"]

    def reset(self, latency):
        self.s.post(f"{self.url}/_simulator/reset", timeout=10)
        self.s.post(f"{self.url}/_simulator/config", json={"latency": latency}, timeout=10)

    def mark(self):
        st = self.state()
        return len(st["calls"]), st["login_count"]

    def since(self, mark):
        st = self.state()
        calls = st["calls"][mark[0] :]
        return calls, st["login_count"] - mark[1], (len(st["calls"]), st["login_count"])


# ----------------------------------------------------------------- payloads


def order_payload(info, till, partner_id, lines, state="paid"):
    """What ``till`` ("on" / "off") sends to pos.order.sync_from_ui for ``lines``
    ((product id, quantity) of the coffee and the sandwich)."""
    prices = {info["coffee_id"]: 4.0, info["sandwich_id"]: 7.5}
    order_lines = [order_line(product_id, qty, prices[product_id]) for product_id, qty in lines]
    uid = str(uuidlib.uuid4())
    return sync_payload(
        info[till], info["cashier_id"], uid, partner_id, order_lines, state, sequence=2
    )


# ----------------------------------------------------------------- phases


def phase_till(rpc, sim, info, n, latency):
    sim.reset(latency)
    cfg = info["on"]["config_id"]
    alice = info["partners"]["alice"]
    lines = [(info["coffee_id"], 2), (info["sandwich_id"], 1)]
    preview_lines = [
        preview_line(p, q, price) for (p, q), price in zip(lines, (4.0, 7.5), strict=True)
    ]
    res = {
        k: {"ms": [], "sim": [], "calls": [], "logins": 0, "fail": 0}
        for k in ("baseline", "identify", "preview", "spend")
    }

    def record(kind, ms, mark, ok=True):
        calls, logins, new = sim.since(mark)
        # The simulator also counts the login inside the action: its time is CRM.COM time.
        res[kind]["ms"].append(ms)
        res[kind]["sim"].append(sum(c["duration"] for c in calls) * 1000)
        res[kind]["calls"].append(
            sum(1 for c in calls if not c["endpoint"].startswith("authentication"))
        )
        res[kind]["logins"] += logins
        if not ok:
            res[kind]["fail"] += 1
        return new

    # warm-up (login, caches) not measured; its logins are counted in the phase total
    phase_mark = sim.mark()
    rpc.call("res.users", "context_get")
    rpc.call("pos.config", "crmcom_identify_customer", [[cfg], "access_token", ALICE_CARD])
    rpc.call(
        "pos.config",
        "crmcom_preview_order",
        [[cfg], {"uuid": str(uuidlib.uuid4()), "partner_id": alice, "lines": preview_lines}],
    )
    mark = sim.mark()
    for _ in range(n):
        ms, _r = rpc.timed("res.users", "context_get")
        mark = record("baseline", ms, mark)
        ms, r = rpc.timed(
            "pos.config", "crmcom_identify_customer", [[cfg], "access_token", ALICE_CARD]
        )
        mark = record("identify", ms, mark, r.get("ok"))
        ms, r = rpc.timed(
            "pos.config",
            "crmcom_preview_order",
            [[cfg], {"uuid": str(uuidlib.uuid4()), "partner_id": alice, "lines": preview_lines}],
        )
        mark = record("preview", ms, mark, r.get("ok"))
        # spend: a fresh draft order, saved by the till, previewed, then spent
        data = order_payload(info, "on", alice, lines, state="draft")
        rpc.call("pos.order", "sync_from_ui", [[data]])
        pv = rpc.call(
            "pos.config",
            "crmcom_preview_order",
            [[cfg], {"uuid": data["uuid"], "partner_id": alice, "lines": preview_lines}],
        )
        mark = sim.mark()
        amount = 1.0 if pv.get("ok") and pv.get("additional_spend_amount", 0) >= 1 else 0.0
        ms, r = rpc.timed("pos.config", "crmcom_spend_rewards", [[cfg], data["uuid"], amount])
        mark = record("spend", ms, mark, r.get("ok"))
    res["phase_logins"] = sim.mark()[1] - phase_mark[1]
    res["phase_actions"] = 3 * n + 6  # measured + warm-up + the spend phase's previews
    return res


def phase_sync(rpc, sim, admin, info, n, sim_url, label):
    """n paid orders of CRM.COM customers, till ON and till OFF interleaved."""
    admin.call("res.company", "write", [[info.get("company_id", 1)], {"crmcom_base_url": sim_url}])
    people = [info["partners"]["alice"], info["partners"]["bob"]]
    times = {"on": [], "off": []}
    ids = []
    for i in range(n):
        for till in ("on", "off") if i % 2 == 0 else ("off", "on"):
            data = order_payload(
                info,
                till,
                people[i % 2],
                [(info["coffee_id"], 1 + i % 4), (info["sandwich_id"], 1 + i % 3)],
            )
            ms, r = rpc.timed("pos.order", "sync_from_ui", [[data]])
            times[till].append(ms)
            if till == "on":
                ids.append(r["pos.order"][0]["id"])
    states = admin.call("pos.order", "read", [ids[:5], ["crmcom_state"]])
    return times, ids, {s["crmcom_state"] for s in states}


def phase_load(rpc, info, reps):
    times = {"on": [], "off": []}
    sizes = {}
    for till in ("on", "off"):  # warm-up: caches, first-load costs
        rpc.call("pos.session", "load_data", [info[till]["session_id"], []], timeout=300)
    for i in range(reps):
        for till in ("on", "off") if i % 2 == 0 else ("off", "on"):
            sid = info[till]["session_id"]
            t0 = time.perf_counter()
            r = rpc.s.post(
                f"{rpc.url}/web/dataset/call_kw/pos.session/load_data",
                json={
                    "jsonrpc": "2.0",
                    "method": "call",
                    "id": 1,
                    "params": {
                        "model": "pos.session",
                        "method": "load_data",
                        "args": [sid, []],
                        "kwargs": {},
                    },
                },
                timeout=300,
            )
            body = r.content
            times[till].append((time.perf_counter() - t0) * 1000)
            parsed = json.loads(body)
            if parsed.get("error"):
                raise RuntimeError(f"load_data: {parsed['error']}")
            sizes[till] = (len(body), len(parsed["result"]["res.partner"]["data"]))
    return times, sizes


# ----------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conf", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--till-n", type=int)
    ap.add_argument("--sync-n", type=int)
    ap.add_argument("--load-reps", type=int)
    ap.add_argument("--drain-n", type=int)
    ap.add_argument("--skip", default="", help="comma list of phases to skip: till,sync,load,drain")
    ap.add_argument(
        "--metrics", action="store_true", help="only the monitoring route (bench/metrics_phase.py)"
    )
    ap.add_argument("--metrics-orders", type=int, default=100_000)
    ap.add_argument("--metrics-calls", type=int, default=200_000)
    ap.add_argument("--metrics-n", type=int, default=200, help="scrapes per measurement")
    a = ap.parse_args()
    if a.metrics:
        return main_metrics(a)
    till_n = a.till_n or (10 if a.quick else 50)
    sync_n = a.sync_n or (20 if a.quick else 200)
    load_reps = a.load_reps or (2 if a.quick else 6)
    drain_n = a.drain_n or (100 if a.quick else 5000)
    skip = set(filter(None, a.skip.split(",")))

    rows = []
    notes = []
    try:
        sim_proc, sim_url = start_simulator(a.logdir)
        sim = Sim(sim_url)
        log(f"simulator {sim_url}")
        info = run_task(a.conf, a.db, "setup", sim_url)
        odoo_proc, odoo_url = start_odoo(a.conf, a.db, a.logdir)
        log(f"odoo {odoo_url}")
        rpc = Rpc(odoo_url, a.db, "bench_cashier", "bench_cashier")
        admin = Rpc(odoo_url, a.db, "admin", "admin")
        admin.call("res.company", "write", [[1], {"crmcom_base_url": sim_url}])

        # 3. POS load (first: before this run creates orders in the sessions)
        if "load" not in skip:
            log(f"POS load, reps={load_reps}")
            admin.call("res.company", "write", [[1], {"crmcom_base_url": sim_url}])
            times, sizes = phase_load(rpc, info, load_reps)
            ratio = pct(times["on"], 50) / pct(times["off"], 50)
            rows.append(
                [
                    "3. POS load",
                    f"pos.session.load_data(session, []), {load_reps} reps/till,"
                    " 10,000 CRM.COM partners in DB",
                    f"on: p50 {pct(times['on'],50):.0f} ms, {sizes['on'][0]/1e6:.2f} MB,"
                    f" {sizes['on'][1]} partners sent",
                    "—",
                    f"off (same DB, till crmcom_enabled=False): p50 {pct(times['off'],50):.0f} ms,"
                    f" {sizes['off'][0]/1e6:.2f} MB",
                    f"ratio p50 on/off {ratio:.3f}",
                    "—",
                    ("MET" if ratio <= 1.05 else "MISSED") + " (≤ 1.05)",
                ]
            )
        # 1. till actions
        if "till" not in skip:
            for latency in (0.0, 0.1):
                log(f"till actions, latency {latency*1000:.0f} ms, n={till_n}")
                res = phase_till(rpc, sim, info, till_n, latency)
                base = res["baseline"]["ms"]
                for kind in ("baseline", "identify", "preview", "spend"):
                    r = res[kind]
                    over = [m - b - s for m, b, s in zip(r["ms"], base, r["sim"], strict=False)]
                    target_rt = {"identify": 1, "preview": 1, "spend": 2}.get(kind)
                    rt = statistics.mean(r["calls"]) if r["calls"] else 0
                    rows.append(
                        [
                            f"1. till {kind}",
                            f"sim {latency*1000:.0f} ms, n={till_n}"
                            + (f", {r['fail']} not ok" if r["fail"] else ""),
                            f"p50 {pct(r['ms'],50):.1f} / p95 {pct(r['ms'],95):.1f} ms",
                            "—"
                            if kind == "baseline"
                            else f"p50 {pct(r['sim'],50):.1f} / p95 {pct(r['sim'],95):.1f} ms",
                            "—"
                            if kind == "baseline"
                            else f"p50 {pct(over,50):.1f} / p95 {pct(over,95):.1f} ms",
                            "—" if kind == "baseline" else f"{rt:.2f} (target {target_rt})",
                            "—"
                            if kind == "baseline"
                            else f"{r['logins'] * 1000 / len(r['ms']):.0f} (logins in whole phase"
                            f" incl. warm-up: {res['phase_logins']}; token ttl 7200 s)",
                            "—"
                            if kind == "baseline"
                            else (
                                "MET"
                                if pct(over, 50) <= 10 and abs(rt - target_rt) < 1e-9
                                else "MISSED"
                            )
                            + " (overhead p50 ≤ 10 ms, round trips)",
                        ]
                    )
        # 2. order sync
        if "sync" not in skip:
            down_url = f"http://127.0.0.1:{free_port()}"
            for label, url, latency in (("sim 300 ms", sim_url, 0.3), ("sim down", down_url, 0.0)):
                sim.reset(latency)
                log(f"order sync {label}, n={sync_n} per till")
                times, ids, states = phase_sync(rpc, sim, admin, info, sync_n, url, label)
                on, off = sum(times["on"]), sum(times["off"])
                ratio = on / off
                info.setdefault("template_ids", ids[:4])
                calls = len(sim.state()["calls"])
                rows.append(
                    [
                        "2. order sync",
                        f"{label}, {sync_n} paid orders/till, 1 order per RPC",
                        f"on: total {on/1000:.2f} s, p50 {pct(times['on'],50):.1f}"
                        f" / p95 {pct(times['on'],95):.1f} ms",
                        f"{calls} CRM.COM calls during sync",
                        f"off: total {off/1000:.2f} s, p50 {pct(times['off'],50):.1f}"
                        f" / p95 {pct(times['off'],95):.1f} ms",
                        f"ratio on/off {ratio:.3f}",
                        f"orders queued: {sorted(states)}",
                        ("MET" if ratio <= 1.10 else "MISSED") + " (≤ 1.10)",
                    ]
                )
            admin.call("res.company", "write", [[1], {"crmcom_base_url": sim_url}])
        # 4. backlog drain (needs template orders: paid, with CRM.COM customers)
        if "drain" not in skip:
            template_ids = info.get("template_ids")
            if not template_ids:
                ids = []
                for i in range(2):
                    data = order_payload(
                        info,
                        "on",
                        [info["partners"]["alice"], info["partners"]["bob"]][i],
                        [(info["coffee_id"], 2), (info["sandwich_id"], 1)],
                    )
                    ids.append(
                        rpc.call("pos.order", "sync_from_ui", [[data]])["pos.order"][0]["id"]
                    )
                template_ids = ids
            # the drain runs in its own process: stop the HTTP server first (nothing
            # else touches the DB meanwhile)
            odoo_proc.send_signal(signal.SIGTERM)
            odoo_proc.wait(30)
            for latency in (0.0, 0.05):
                log(f"backlog drain, latency {latency*1000:.0f} ms, n={drain_n}")
                d = run_task(
                    a.conf,
                    a.db,
                    "drain",
                    sim_url,
                    str(drain_n),
                    str(latency),
                    ",".join(map(str, template_ids)),
                )
                rows.append(
                    [
                        "4. backlog drain",
                        f"sim {latency*1000:.0f} ms, N={d['n']} pending orders"
                        + ("" if d["n"] == 5000 else " (not 5,000: --quick or --drain-n)"),
                        f"pos.order._crmcom_cron_send: {d['drain_eps']:.1f} events/s"
                        f" ({d['drain_s']:.1f} s, {d['cron_runs']} cron runs)",
                        f"direct CrmcomClient.create_purchase, {d['parallel_requests']} in flight:"
                        f" {d['direct_eps']:.1f} events/s"
                        f" ({d['direct_s']:.1f} s); CRM.COM's own time per purchase p50"
                        f" {d['served_ms_p50'] or 0:.1f} ms",
                        f"ratio addon/direct {d['drain_eps']/d['direct_eps']:.2f};"
                        f" peak RSS during drain +{d['rss_delta_kb']/1024:.1f} MB over start"
                        f" (peak {d['rss_peak_kb']/1024:.0f} MB)",
                        f"{d['calls']} CRM.COM calls, {d['logins']} logins, at most"
                        f" {d['peak_in_flight']} in flight (setting {d['parallel_requests']})",
                        f"exactly one POSTED purchase: {d['exactly_one']}/{d['n']} orders;"
                        f" states {d['states']}",
                        ("MET" if d["drain_eps"] >= 140 else "MISSED")
                        + " (≥ 140 events/s at 50 ms)"
                        if latency
                        else "—",
                    ]
                )
    finally:
        stop_children()

    cpu = "?"
    with contextlib.suppress(OSError):  # no /proc/cpuinfo: the CPU stays "?"
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-tAc", "show server_version", "postgres"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print()
    print(
        f"Machine: nproc {os.cpu_count()}, CPU {cpu}, Python {platform.python_version()},"
        f" PostgreSQL {pg}, Odoo {ODOO_PATH} (threaded server, workers=0, max_cron_threads=0)"
    )
    print()
    print(
        "| benchmark | setting | measured (ours) | CRM.COM time / comparison"
        " | addon overhead / comparison | round trips / ratio | logins per 1,000 / notes | target |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()
    print(
        "Overhead = our RPC − baseline RPC (res.users.context_get, same server, same session,"
        " measured interleaved) − simulator-measured duration of the CRM.COM calls of the action."
        " Round trips exclude logins. Timings are reported, not asserted."
    )
    for note in notes:
        print(note)


def main_metrics(a):
    try:
        _sim_proc, sim_url = start_simulator(a.logdir)
        run_task(a.conf, a.db, "setup", sim_url)  # the cashier whose key is the baseline
        rows, explained, notes = metrics_phase.run(
            lambda *args: run_task(a.conf, a.db, *args, tasks=METRICS_TASKS),
            lambda: start_odoo(a.conf, a.db, a.logdir),
            a.db,
            a.metrics_orders,
            a.metrics_calls,
            a.metrics_n,
            log,
        )
    finally:
        stop_children()
    print()
    print(
        f"Machine: nproc {os.cpu_count()}, Python {platform.python_version()}, Odoo {ODOO_PATH}"
        " (threaded server, workers=0, max_cron_threads=0)"
    )
    metrics_phase.print_tables(rows, explained, notes)


if __name__ == "__main__":
    main()
