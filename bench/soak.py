"""tools/soak driver: a production-like deployment under CRM.COM faults and worker
kills, checked for exactly once at the end.

Starts the CRM.COM simulator and two Odoo servers in prefork mode on one database,
drives several tills from separate OS processes over real HTTP / JSON-RPC (the
calls the till's JavaScript makes), has the simulator fail about one CRM.COM
request in five and expire its tokens, kills HTTP and cron workers with SIGKILL
mid-request, waits until every order is settled and compares once what the tills
did, what Odoo holds and what CRM.COM holds (bench/soak_check.py). Prints one
table and a last line starting with ``soak:``; exits 1 when a check fails.

    python bench/soak.py --conf CONF --db DB --logdir DIR [options]   (driver)
    python bench/soak.py till SPEC OUT                                (one till)

Not an Odoo test (nothing here is imported by tests/).
"""

# A command-line tool: printing the table is what it is for.
# pylint: disable=print-used

import argparse
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import psutil
import psycopg2
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import Rpc, Sim, free_port  # noqa: E402 - tools/bench's own helpers
from soak_check import UNSETTLED, check  # noqa: E402
from till_payload import order_line, preview_line, sync_payload  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")
TASKS = os.path.join(REPO, "bench", "soak_tasks.py")
CASHIER = ("soak_cashier", "soak_cashier")
ADMIN = ("admin", "admin")
# The simulator's test scenario: key -> (participant number, card).
PEOPLE = {
    "alice": ("RP0001", "4000000000000001"),  # plain
    "bob": ("RP0002", "4000000000000002"),  # automatic spend
    "carol": ("RP0003", "4000000000000003"),  # spending blocked
    "dave": ("RP0004", "4000000000000004"),  # terminated: no rewards
    "evans": ("RP0005", "4000000000000005"),  # a company, empty wallet
}
CUSTOMER_WEIGHTS = {"alice": 4, "bob": 4, "carol": 1, "dave": 1, "evans": 1}
# About one CRM.COM request in five is hit (1 - 0.955^5 = 21%): the answer lost
# before or after CRM.COM applied it, a 503 page, garbage after applying it, or
# garbage before. Tokens are also expired every few seconds.
FAULTS = [
    {"kind": "drop", "applied": False},
    {"kind": "drop", "applied": True},
    {"kind": "http_error", "http_status": 503},
    {"kind": "malformed", "applied": True},
    {"kind": "malformed", "applied": False},
]
FAULT_PROBABILITY = 0.045

GROUPS = []  # Popen of every process group started here (start_new_session)
STOP = threading.Event()


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------- processes


def spawn(cmd, logfile, env=None):
    """Start ``cmd`` in a process group of its own (killed whole at the end)."""
    with open(logfile, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    GROUPS.append(proc)
    return proc


def stop_all():
    """SIGTERM every group started here, then SIGKILL what is left of them."""
    for proc in reversed(GROUPS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in reversed(GROUPS):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.1, deadline - time.monotonic()))
    for proc in reversed(GROUPS):
        # Workers of a prefork master may outlive it: the whole group goes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    GROUPS.clear()


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def start_simulator(logdir, seed):
    port_file = os.path.join(logdir, "simulator.port")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(port_file)
    proc = spawn(
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
            "--seed",
            str(seed),
        ],
        os.path.join(logdir, "simulator.log"),
    )
    for _ in range(200):
        with contextlib.suppress(FileNotFoundError, ValueError):
            return proc, f"http://127.0.0.1:{int(open(port_file).read().strip())}"
        if proc.poll() is not None:
            raise RuntimeError("the simulator exited; see simulator.log")
        time.sleep(0.05)
    raise RuntimeError("the simulator did not start")


class Server:
    """One Odoo server process (prefork master, or threaded with workers=0)."""

    def __init__(self, name, conf, db, logdir, workers):
        self.name = name
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = os.path.join(logdir, f"odoo-{name}.log")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.logfile)  # --logfile appends
        cmd = [
            PY,
            os.path.join(ODOO_PATH, "odoo-bin"),
            "-c",
            conf,
            "-d",
            db,
            f"--db-filter=^{db}$",
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            f"--gevent-port={free_port()}",
            f"--workers={workers}",
            "--max-cron-threads=1",
            # A till call may wait for CRM.COM (read time-out 5 s, several calls);
            # the sender's run of 100 orders under faults takes longer.
            "--limit-time-real=300",
            "--limit-time-cpu=120",
            "--limit-time-real-cron=900",
            "--db_maxconn=16",
            "--log-level=info",
            f"--logfile={self.logfile}",
        ]
        self.outfile = os.path.join(logdir, f"odoo-{name}.out")
        self.proc = spawn(cmd, self.outfile)

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                r = requests.post(
                    f"{self.url}/web/webclient/version_info",
                    json={"jsonrpc": "2.0", "params": {}},
                    timeout=5,
                )
                if r.ok and (not self.workers or self.worker_pids("cron")):
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"odoo {self.name} exited; see {self.logfile}")
            time.sleep(0.3)
        raise RuntimeError(f"odoo {self.name} did not start in {timeout} s")

    def worker_pids(self, kind):
        """PIDs of this prefork master's workers of ``kind`` (http / cron). Odoo
        sets no process title here (no setproctitle): a WorkerHTTP holds the
        listening socket of the HTTP port, a WorkerCron closed it and reniced itself
        by 10 (WorkerCron.start); the gevent process runs ``odoo-bin gevent``. A
        child just forked (no socket, not reniced yet) is neither."""
        try:
            master = psutil.Process(self.proc.pid)
            children = master.children()
            base = master.nice()
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if "gevent" in child.cmdline():
                    continue
                listens = any(
                    conn.status == psutil.CONN_LISTEN and conn.laddr.port == self.port
                    for conn in child.connections("tcp")
                )
                if (
                    kind == "http"
                    and listens
                    or kind == "cron"
                    and not listens
                    and child.nice() > base
                ):
                    found.append(child.pid)
        return found


def db_ports(pid):
    """Local ports of the PostgreSQL connections of process ``pid``: its workers'
    application_name is the master's pid (the connection parameters are made in the
    master), the client port tells the process."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return {
            conn.laddr.port
            for conn in psutil.Process(pid).connections("tcp")
            if conn.raddr and conn.raddr.port == 5432
        }
    return set()


# ----------------------------------------------------------------- database


class Db:
    def __init__(self, db):
        self.db = db

    def connect(self, dbname=None):
        conn = psycopg2.connect(dbname=dbname or self.db, host="127.0.0.1", port=5432)
        conn.autocommit = True
        return conn

    def busy(self, also=None):
        """{client port: seconds} of the PostgreSQL connections whose transaction
        has been open that long and holds pos.order rows (a till request or the
        sender waiting for CRM.COM with orders locked); with ``also``, only those
        that read that table too (crmcom_till_preview: a till's spend)."""
        with self.connect() as conn, conn.cursor() as cr:
            cr.execute(
                """SELECT a.client_port, EXTRACT(EPOCH FROM now() - a.xact_start)
                     FROM pg_stat_activity a
                    WHERE a.datname = %s AND a.xact_start IS NOT NULL
                      AND a.pid <> pg_backend_pid()
                      AND EXISTS (SELECT 1 FROM pg_locks l
                                   WHERE l.pid = a.pid AND l.granted
                                     AND l.relation = 'pos_order'::regclass
                                     AND l.mode = 'RowShareLock')
                      AND (%s IS NULL OR EXISTS (SELECT 1 FROM pg_locks l
                                   WHERE l.pid = a.pid AND l.granted
                                     AND l.relation = to_regclass(%s)))""",
                [self.db, also, also],
            )
            return {port: float(age) for port, age in cr.fetchall() if port}

    def states(self, uuids):
        with self.connect() as conn, conn.cursor() as cr:
            cr.execute(
                "SELECT crmcom_state, count(*) FROM pos_order WHERE uuid = ANY(%s) GROUP BY 1",
                [uuids],
            )
            return dict(cr.fetchall())

    def failed_ids(self, uuids):
        with self.connect() as conn, conn.cursor() as cr:
            cr.execute(
                "SELECT id, crmcom_last_error FROM pos_order"
                " WHERE uuid = ANY(%s) AND crmcom_state = 'failed' ORDER BY id",
                [uuids],
            )
            return cr.fetchall()

    def nudge(self, uuids, cron_id):
        """Time compression: orders of the run waiting for a retry delay or for the
        in-flight lease of a killed worker are made due now (only rows no one holds:
        a worker holding an order keeps it), and the sender is triggered. What
        production does after 1, 2, 4... minutes (5 for the lease), in seconds."""
        with self.connect() as conn, conn.cursor() as cr:
            cr.execute(
                """UPDATE pos_order SET crmcom_next_attempt_at = now() AT TIME ZONE 'UTC'
                    WHERE id IN (SELECT id FROM pos_order
                                  WHERE uuid = ANY(%s)
                                    AND crmcom_state IN ('pending', 'cancel_pending',
                                                         'refund_pending')
                                    AND crmcom_next_attempt_at > now() AT TIME ZONE 'UTC'
                                    FOR UPDATE SKIP LOCKED)""",
                [uuids],
            )
            moved = cr.rowcount
            cr.execute(
                "INSERT INTO ir_cron_trigger (cron_id, call_at)"
                " VALUES (%s, now() AT TIME ZONE 'UTC')",
                [cron_id],
            )
        with self.connect("postgres") as conn, conn.cursor() as cr:
            cr.execute("NOTIFY cron_trigger, %s", [self.db])
        return moved

    def orders(self, uuids):
        """{uuid: the Odoo row the check reads} for the run's orders."""
        with self.connect() as conn, conn.cursor() as cr:
            cr.execute(
                """SELECT o.uuid, count(*) OVER (PARTITION BY o.uuid), o.state, o.crmcom_state,
                          o.pos_reference, o.crmcom_reference, o.crmcom_purchase_id,
                          p.crmcom_participant_number, o.crmcom_awarded_amount,
                          o.crmcom_instant_spend_amount, o.crmcom_automatic_spend_amount,
                          o.crmcom_additional_spend_amount, o.crmcom_warning, o.crmcom_last_error,
                          o.crmcom_attempts, o.crmcom_sequence
                     FROM pos_order o LEFT JOIN res_partner p ON p.id = o.partner_id
                    WHERE o.uuid = ANY(%s) ORDER BY o.id""",
                [uuids],
            )
            keys = (
                "uuid count state crmcom_state pos_reference crmcom_reference"
                " crmcom_purchase_id participant awarded instant automatic additional"
                " warning last_error attempts sequence"
            ).split()
            return {row[0]: dict(zip(keys, row, strict=True)) for row in cr.fetchall()}


def run_task(conf, db, *args):
    out = subprocess.run([PY, TASKS, conf, db, *args], cwd=REPO, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"soak_tasks {args[0]} failed:\n{out.stderr[-4000:]}")
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


# ----------------------------------------------------------------- chaos


# A till rings up at most this many times the sales asked while a kill is pending: a
# kill needs a request that waits for CRM.COM at the right moment, which may take a while.
MAX_SALES_FACTOR = 5
# The delayed answers armed for a kill are used up by whichever request comes first
# (often the sender's): armed again this often until the kill is done.
REARM_AFTER = 8


class Chaos(threading.Thread):
    """Expires the simulator's tokens every ``expire_every`` seconds and kills, one
    after the other, the workers of ``plan`` (a list of "http" / "cron") with
    SIGKILL while they hold pos.order rows in a transaction open for a second or
    more (mid-request: waiting for a CRM.COM answer that the simulator delays
    after applying the request)."""

    ARM = {
        # A till's spend: the answer waits; CRM.COM applies the request after the wait
        # even when the worker that sent it is dead by then.
        "http": [
            {"endpoint": "customer_events/spend_requests/create"},
            {"endpoint": "customer_events/purchases/create", "times": 2},
        ],
        # The sender: CRM.COM books the purchase, or answers a lookup, late.
        "cron": [
            {"endpoint": "customer_events/purchases/create", "times": 2},
            {"endpoint": "customer_events/purchases/list"},
        ],
    }

    def __init__(self, servers, sim, db, plan, expire_every, start_after, gap, pending_flag):
        super().__init__(daemon=True)
        self.pending_flag = pending_flag
        self.servers = servers
        self.sim = sim
        self.db = db
        self.plan = list(plan)
        self.expire_every = expire_every
        self.start_after = start_after
        self.gap = gap
        self.kills = []
        self.expiries = 0
        self.errors = []

    def run(self):
        started = time.monotonic()
        last_expiry = started
        next_kill = started + self.start_after
        armed, first_armed = {}, {}
        while not STOP.wait(0.1):
            now = time.monotonic()
            try:
                if self.expire_every and now - last_expiry >= self.expire_every:
                    self.sim.s.post(f"{self.sim.url}/_simulator/expire_tokens", timeout=10)
                    self.expiries += 1
                    last_expiry = now
                if not self.plan:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.pending_flag)  # the tills may stop
                if not self.plan or now < next_kill:
                    continue
                for kind in dict.fromkeys(self.plan):  # each kind still planned, in order
                    if now - armed.get(kind, -1e9) > REARM_AFTER:
                        self.arm(kind)
                        armed[kind] = now
                        first_armed.setdefault(kind, now)
                    # A till's spend first (the most to lose); any request after 15 s.
                    spend_only = kind == "http" and now - first_armed[kind] < 15
                    victim = self.find(kind, spend_only=spend_only)
                    if victim:
                        self.kill(kind, *victim, spend_only=spend_only)
                        self.plan.remove(kind)
                        armed.pop(kind)
                        first_armed.pop(kind)
                        next_kill = time.monotonic() + self.gap
                        break
            except Exception as error:  # noqa: BLE001 - report, keep the soak going
                self.errors.append(repr(error))
                time.sleep(1)

    def arm(self, kind):
        faults = [
            {"kind": "latency", "delay": 4.0, "times": 1, **fault} for fault in self.ARM[kind]
        ]
        answer = self.sim.s.post(f"{self.sim.url}/_simulator/faults", json=faults, timeout=10)
        answer.raise_for_status()  # a refused fault would leave the kill waiting forever

    def find(self, kind, spend_only=False):
        busy = self.db.busy("crmcom_till_preview" if spend_only else None)
        if not busy:
            return None
        for server in self.servers:
            for pid in server.worker_pids(kind):
                age = max((busy.get(port, 0) for port in db_ports(pid)), default=0)
                if age >= 1.0:
                    return server, pid, age
        return None

    def kill(self, kind, server, pid, age, spend_only=False):
        before = set(server.worker_pids(kind))
        os.kill(pid, signal.SIGKILL)
        doing = last_record(server.logfile, pid)
        t0 = time.monotonic()
        respawned = None
        while time.monotonic() - t0 < 30:
            now = set(server.worker_pids(kind))
            new = now - before
            if new:
                respawned = (sorted(new)[0], time.monotonic() - t0)
                break
            time.sleep(0.1)
        self.kills.append(
            {
                "kind": kind,
                "server": server.name,
                "pid": pid,
                "xact_age": age,
                "what": "reading till previews" if spend_only else "",
                "doing": doing,
                "at": time.strftime("%H:%M:%S"),
                "respawned": respawned,
            }
        )
        log(
            f"SIGKILL {kind} worker {pid} of server {server.name} (transaction open"
            f" {age:.1f} s, holding pos.order rows); respawned: {respawned}"
        )


# ----------------------------------------------------------------- till process


class Till:
    """One till in its own OS process: a cashier ringing up ``orders`` sales over
    JSON-RPC as the browser does, against its home server (the other one for
    duplicates, and when the home server does not answer)."""

    def __init__(self, spec):
        self.spec = spec
        self.rng = random.Random(spec["seed"])
        self.servers = spec["servers"]
        self.home = spec["home"]
        self.cfg = spec["till"]["config_id"]
        self.rpcs = {}
        self.stats = Counter()
        self.notes = {}
        self.paid = []  # (entry, lines of the answer) of sales that may be refunded
        self.resend = []  # paid payloads to send again later

    # -- transport --
    def rpc(self, url):
        if url not in self.rpcs:
            self.rpcs[url] = Rpc(url, self.spec["db"], *CASHIER)
        return self.rpcs[url]

    def call(self, model, method, args, *, server=None, tries=6, retry_errors=False):
        """One JSON-RPC call as the till makes it; a call the server did not answer
        (a worker killed, a connection reset) is made again, on the other server
        after two tries; an Odoo error is made again only with ``retry_errors``."""
        home = self.home if server is None else server
        last = None
        for attempt in range(tries):
            url = self.servers[(home + attempt // 2) % len(self.servers)]
            try:
                return self.rpc(url).call(model, method, args, timeout=90)
            except requests.RequestException as error:
                self.stats[f"no answer, call made again: {method}"] += 1
                self.rpcs.pop(url, None)
                last = error
            except RuntimeError as error:
                self.stats[f"odoo errors: {method}"] += 1
                self.notes[f"last odoo error of {method}"] = str(error)[:300]
                if not retry_errors:
                    raise
                last = error
            time.sleep(0.3 * (attempt + 1))
        raise last

    # -- payloads --
    def line(self, product, qty, price, **extra):
        product_id = self.spec["products"][product]["id"] if product != "redemption" else None
        return order_line(extra.pop("product_id", product_id), qty, price, **extra)

    def payload(self, uid, partner_id, lines, state, *, name=None, extra_lines=(), deletes=()):
        """What the till sends to pos.order.sync_from_ui; ``deletes``: the lines of
        the saved draft that the paid order replaces (as tests/common.py's pay_draft)."""
        order_lines = [self.line(product, qty, price) for product, qty, price in lines]
        order_lines = [*deletes, *order_lines, *extra_lines]
        till, cashier_id = self.spec["till"], self.spec["cashier_id"]
        return sync_payload(till, cashier_id, uid, partner_id, order_lines, state, name=name)

    def sync(self, data, *, duplicate=False):
        """Sync an order; with ``duplicate`` the same payload goes to both servers
        at once (a till sending again a request whose answer was slow, a second
        tab). Returns the sync answer's order and its lines."""
        if duplicate:
            self.stats["duplicate syncs (both servers at once)"] += 1
            with ThreadPoolExecutor(2) as pool:
                futures = [
                    pool.submit(
                        self.call,
                        "pos.order",
                        "sync_from_ui",
                        [[json.loads(json.dumps(data))]],
                        server=server,
                        retry_errors=True,
                    )
                    for server in range(len(self.servers))
                ]
                answers = [future.result() for future in futures]
            ids = {answer["pos.order"][0]["id"] for answer in answers}
            if len(ids) != 1:
                self.stats["duplicate syncs answered with different orders"] += 1
            answer = answers[0]
        else:
            answer = self.call("pos.order", "sync_from_ui", [[data]], retry_errors=True)
        order = answer["pos.order"][0]
        lines = [line for line in answer["pos.order.line"] if line["order_id"] == order["id"]]
        return order, lines

    # -- the cashier --
    def run(self, out):
        """``orders`` sales, more (up to five times as many) while the driver's kills
        are still to be done: they need requests to kill."""
        for count in itertools.count():
            if count >= self.spec["orders"] and (
                count >= MAX_SALES_FACTOR * self.spec["orders"]
                or not os.path.exists(self.spec["pending_flag"])
            ):
                break
            for entry in self.sale():
                out.write(json.dumps(entry) + "\n")
                out.flush()
            if self.resend and self.rng.random() < 0.3:
                # The till sends again an order whose answer it lost: the other server.
                data = self.resend.pop(0)
                self.stats["late re-sends (other server)"] += 1
                self.call(
                    "pos.order",
                    "sync_from_ui",
                    [[data]],
                    server=(self.home + 1) % len(self.servers),
                    retry_errors=True,
                )
            if self.paid and self.rng.random() < self.spec["refund_rate"]:
                entry = self.refund()
                if entry:
                    out.write(json.dumps(entry) + "\n")
                    out.flush()
        out.write(json.dumps({"kind": "stats", "stats": {**self.stats, **self.notes}}) + "\n")

    def pick_customer(self):
        if self.rng.random() < 0.1:
            return None
        keys = list(CUSTOMER_WEIGHTS)
        return self.rng.choices(keys, weights=[CUSTOMER_WEIGHTS[k] for k in keys])[0]

    def identify(self, key):
        number, card = PEOPLE[key]
        kind, value = ("number", number) if self.rng.random() < 0.2 else ("access_token", card)
        try:
            answer = self.call("pos.config", "crmcom_identify_customer", [[self.cfg], kind, value])
        except (requests.RequestException, RuntimeError):
            answer = {"ok": False, "reason": "no answer"}
        self.stats[f"identify: {'ok' if answer.get('ok') else answer.get('reason')}"] += 1
        if answer.get("ok"):
            if answer["partner_id"] != self.spec["partners"].get(key):
                self.stats["identify: another partner than the known one"] += 1
            return answer["partner_id"]
        if answer.get("reason") == "terminated":
            return None
        # CRM.COM unavailable: the cashier picks the known customer from the list.
        return self.spec["partners"].get(key)

    def preview(self, uid, partner_id, lines):
        try:
            answer = self.call(
                "pos.config",
                "crmcom_preview_order",
                [
                    [self.cfg],
                    {
                        "uuid": uid,
                        "partner_id": partner_id,
                        "lines": [
                            preview_line(self.spec["products"][product]["id"], qty, price)
                            for product, qty, price in lines
                        ],
                    },
                ],
            )
        except (requests.RequestException, RuntimeError):
            answer = {"ok": False, "reason": "no answer"}
        self.stats[f"preview: {'ok' if answer.get('ok') else answer.get('reason')}"] += 1
        return answer

    def order_state(self, uid):
        rows = self.call(
            "pos.order", "search_read", [[["uuid", "=", uid]], ["crmcom_state", "state"]]
        )
        return rows[0]["crmcom_state"] if rows else None

    def sale(self):
        """One sale; returns its ledger entries (a draft abandoned on the way, too)."""
        entries = []
        key = self.pick_customer()
        partner_id = self.identify(key) if key else None
        customer = PEOPLE[key][0] if key and partner_id else None
        products = self.spec["products"]
        lines = [
            (product, self.rng.randint(1, 3), products[product]["price"])
            for product in self.rng.sample(sorted(products), self.rng.randint(1, 3))
        ]
        roll = self.rng.random()
        order = {"uuid": str(uuidlib.uuid4()), "mode": "plain", "redemption": 0.0}
        if customer and roll < self.spec["spend_rate"]:
            order = self.spend(order["uuid"], partner_id, customer, lines, entries)
            if order is None:
                return entries
        elif customer and roll < self.spec["spend_rate"] + 0.3:
            order["mode"] = "preview"
            self.preview(order["uuid"], partner_id, lines)
        extra = []
        if order["redemption"]:
            extra.append(
                self.line(
                    "redemption",
                    1,
                    -order["redemption"],
                    product_id=self.spec["redemption_product_id"],
                )
            )
        data = self.payload(
            order["uuid"],
            partner_id,
            lines,
            "paid",
            name=order.get("name"),
            extra_lines=extra,
            deletes=order.get("delete", ()),
        )
        if order.get("access_token"):
            data["access_token"] = order["access_token"]
        entry = {
            "kind": "sale",
            "uuid": order["uuid"],
            "till": self.spec["index"],
            "customer": customer,
            "lines": lines,
            "mode": order["mode"],
            "redemption": order["redemption"],
            "paid": False,
        }
        entries.append(entry)
        try:
            synced, order_lines = self.sync(
                data, duplicate=self.rng.random() < self.spec["dup_rate"]
            )
        except (requests.RequestException, RuntimeError):
            self.stats["paid syncs that never went through"] += 1
            return entries
        self.stats["paid orders synced"] += 1
        entry.update(paid=True, order_id=synced["id"])
        if self.rng.random() < 0.05:
            self.resend.append(data)
        self.paid.append((entry, order_lines, partner_id))
        return entries

    def spend(self, uid, partner_id, customer, lines, entries):
        """Rewards spent on the saved draft (sometimes cancelled again): the order
        to pay ({uuid, mode, redemption, name, delete, access_token}), or None if
        the draft could not be saved. A draft whose cancelled redemption CRM.COM
        did not confirm is left as the till says, the sale rung up again."""
        abandoned = {"kind": "abandoned", "uuid": uid, "customer": customer, "lines": lines}
        try:
            draft, draft_lines = self.sync(self.payload(uid, partner_id, lines, "draft"))
        except (requests.RequestException, RuntimeError):
            self.stats["drafts never saved"] += 1
            entries.append(abandoned)
            return None
        preview = self.preview(uid, partner_id, lines)
        amount = 0.0
        low = max(1.0, preview.get("minimum_spend_amount") or 0)
        high = min(
            preview.get("additional_spend_amount") or 0,
            preview.get("maximum_spend_amount") or 0,
            sum(qty * price for _p, qty, price in lines),
        )
        if preview.get("ok") and preview.get("allow_spending") and high >= low:
            amount = round(self.rng.uniform(low, high), 2)
        answer = self.till_call("crmcom_spend_rewards", uid, amount)
        self.stats[f"spend: {'ok' if answer.get('ok') else answer.get('reason')}"] += 1
        order = {
            "uuid": uid,
            "mode": "spend",
            "redemption": float(answer.get("redemption_amount") or 0.0),
            "name": draft["pos_reference"],
            "access_token": draft["access_token"],
            "delete": [[2, line["id"]] for line in draft_lines],
        }
        if not order["redemption"] or self.rng.random() >= self.spec["cancel_rate"]:
            return order
        cancel = self.till_call("crmcom_cancel_redemption", uid)
        self.stats[f"cancel redemption: {'ok' if cancel.get('ok') else 'not ok'}"] += 1
        try:
            state = self.order_state(uid)
        except (requests.RequestException, RuntimeError):
            state = "unknown"
        if cancel.get("ok") or state == "none":
            order["redemption"] = 0.0
        elif state != "sent":
            # "Delete this order and ring it up again": the draft is left.
            self.stats["drafts abandoned (cancel not confirmed)"] += 1
            entries.append(abandoned)
            return {"uuid": str(uuidlib.uuid4()), "mode": "plain", "redemption": 0.0}
        return order

    def till_call(self, method, *args):
        """A spend or a cancellation: clicked again when the server did not answer."""
        try:
            return self.call("pos.config", method, [[self.cfg], *args], tries=4)
        except (requests.RequestException, RuntimeError):
            return {"ok": False, "reason": "no answer"}

    def refund(self):
        """Refund one of the last sales of this till: everything (the redemption
        line too), or one item of a sale without redemption."""
        index = len(self.paid) - 1 - self.rng.randrange(min(6, len(self.paid)))
        entry, order_lines, partner_id = self.paid.pop(index)
        sold = [line for line in order_lines if line["qty"] > 0]
        redemption_id = self.spec["redemption_product_id"]
        by_id = {p["id"]: k for k, p in self.spec["products"].items()}
        units = sum(line["qty"] for line in sold if line["product_id"] != redemption_id)
        full = entry["redemption"] or units < 2 or self.rng.random() < 0.6
        refund_lines, ledger_lines = [], []
        for line in order_lines:
            is_redemption = line["product_id"] == redemption_id
            qty = line["qty"] if full else 1
            if not full and (is_redemption or ledger_lines):
                continue
            product = "redemption" if is_redemption else by_id[line["product_id"]]
            refund_lines.append(
                self.line(
                    product,
                    -qty,
                    line["price_unit"],
                    product_id=line["product_id"],
                    refunded_orderline_id=line["id"],
                )
            )
            ledger_lines.append([product, qty, line["price_unit"]])
        uid = str(uuidlib.uuid4())
        data = self.payload(uid, partner_id, [], "paid", extra_lines=refund_lines)
        refund = {
            "kind": "refund",
            "uuid": uid,
            "of": entry["uuid"],
            "full": bool(full),
            "customer": None,
            "lines": ledger_lines,
            "paid": False,
        }
        try:
            order, _lines = self.sync(data, duplicate=self.rng.random() < self.spec["dup_rate"])
        except (requests.RequestException, RuntimeError):
            self.stats["refunds that never went through"] += 1
            return refund
        self.stats[f"refunds synced ({'full' if full else 'partial'})"] += 1
        refund.update(paid=True, order_id=order["id"])
        return refund


def till_main(spec_path, out_path):
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    with open(out_path, "w") as out:
        Till(spec).run(out)


# ----------------------------------------------------------------- driver


def read_ledgers(paths):
    ledger, stats, notes = [], Counter(), {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError), open(path) as ledger_file:
            for line in ledger_file:
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if entry["kind"] == "stats":
                        for key, value in entry["stats"].items():
                            if isinstance(value, int):
                                stats[key] += value
                            else:
                                notes[key] = value
                    else:
                        ledger.append(entry)
    return ledger, stats, notes


def last_record(path, pid):
    """The message of the last record that process ``pid`` wrote in an Odoo log."""
    last = ""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as logfile:
        logfile.seek(0, os.SEEK_END)
        logfile.seek(max(0, logfile.tell() - 400_000))
        for line in logfile.read().decode(errors="replace").splitlines():
            parts = line.split(" ", 5)
            if len(parts) == 6 and parts[2] == str(pid):
                last = parts[5]
    return last[:180]


def log_records(path):
    """(level, logger + message start) of the WARNING / ERROR / CRITICAL records of
    an Odoo log file, and the tracebacks' last lines."""
    found = Counter()
    with contextlib.suppress(FileNotFoundError), open(path, errors="replace") as logfile:
        for line in logfile:
            parts = line.split(" ", 5)
            if len(parts) == 6 and parts[3] in ("WARNING", "ERROR", "CRITICAL"):
                found[(parts[3], parts[5].strip()[:150])] += 1
    return found


def crashes(path):
    """Tracebacks printed on a server's standard error (its gevent process's own
    crashes: it logs there before its log file is set up): count, last line."""
    count, last = 0, ""
    with contextlib.suppress(FileNotFoundError), open(path, errors="replace") as out:
        lines = out.read().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            count += 1
            tail = [text for text in lines[index + 1 : index + 80] if not text.startswith(" ")]
            last = tail[0] if tail else last
    return count, last


def settle(db, admin, uuids, cron_id, *, timeout, compress, table):
    """Wait (at most ``timeout`` s) until no order of the run is pending,
    cancel_pending or refund_pending; orders that failed are sent again from the
    back office (its Retry button) up to three times."""
    start = time.monotonic()
    nudges = moved = retried = 0
    failed_seen = []
    last_nudge = 0.0
    rounds = 0
    while True:
        states = db.states(uuids)
        unsettled = sum(states.get(state, 0) for state in UNSETTLED)
        if not unsettled:
            failed = db.failed_ids(uuids)
            if not failed or rounds >= 3:
                break
            rounds += 1
            failed_seen += failed
            retried += len(failed)
            log(f"back office: Retry on {len(failed)} failed order(s)")
            with contextlib.suppress(RuntimeError, requests.RequestException):
                admin.call("pos.order", "action_crmcom_retry", [[row[0] for row in failed]])
            continue
        if time.monotonic() - start > timeout:
            break
        if compress and time.monotonic() - last_nudge >= 3:
            moved += db.nudge(uuids, cron_id)
            nudges += 1
            last_nudge = time.monotonic()
        time.sleep(1)
    elapsed = time.monotonic() - start
    table.append(
        (
            "settle",
            f"{elapsed:.0f} s; time compressed: {'yes' if compress else 'no'} ({nudges} nudges,"
            f" {moved} due times pulled forward); failed then Retry from the back office:"
            f" {retried}",
        )
    )
    for row_id, error in failed_seen[:5]:
        table.append(("failed order", f"pos.order {row_id}: {(error or '')[:160]}"))
    return db.states(uuids)


def break_exactly_once(sim_url, how, ledger, orders):
    """Self-test of the check (--break): book a second purchase of one sale in
    CRM.COM behind Odoo's back (duplicate), or cancel one (lost)."""
    sys.path.insert(0, REPO)
    from crmcom import CrmcomClient, Purchase, PurchaseLine, TokenCache, read_purchase

    client = CrmcomClient(
        sim_url, web_api_key="EE73C0AE64524371B5DDEFF5F7BB2192", token_cache=TokenCache()
    )
    for entry in ledger:
        row = orders.get(entry["uuid"])
        if entry["kind"] == "sale" and row and row["crmcom_state"] == "sent":
            if how == "lost":
                client.cancel_purchase({"id": row["crmcom_purchase_id"]})
            else:
                read_purchase(
                    client.create_purchase(
                        Purchase(
                            customer={"number": "ACR" + row["participant"][2:]},
                            unit={"alternative_code": "SHOP1"},
                            performed_on=datetime.now(),
                            reference_number=f"{row['pos_reference']}/9",
                            lines=[PurchaseLine({"code": "COFFEE"}, 4, 0, 4)],
                        )
                    )
                )
            log(f"--break {how}: {row['pos_reference']}")
            return


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conf", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--small", action="store_true", help="2 tills x 20 orders, one kill each")
    ap.add_argument("--tills", type=int)
    ap.add_argument("--orders", type=int, help="orders per till")
    ap.add_argument("--workers", type=int, default=2, help="HTTP workers of each server")
    ap.add_argument(
        "--second-workers", type=int, help="HTTP workers of the second server (0 = threaded)"
    )
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--kills", help="comma list of http/cron kills, in order")
    ap.add_argument("--real-time", action="store_true", help="no time compression while settling")
    ap.add_argument("--load-timeout", type=float)
    ap.add_argument("--settle-timeout", type=float)
    ap.add_argument("--break", dest="break_", choices=("duplicate", "lost"))
    a = ap.parse_args()
    a.tills = a.tills or (2 if a.small else 4)
    a.orders = a.orders or (20 if a.small else 150)
    if a.kills is None:
        a.kills = "http,cron" if a.small else "http,cron,http,cron"
    a.kills = [kind for kind in a.kills.split(",") if kind]
    if a.second_workers is None:
        a.second_workers = a.workers
    a.load_timeout = a.load_timeout or 120 + 6 * a.tills * a.orders
    a.settle_timeout = a.settle_timeout or (1800 if a.real_time else 300)
    return a


class Soak:
    def __init__(self, args):
        self.a = args
        self.table = []
        self.failures = []
        self.chaos = None
        self.result = None
        self.logins = 0

    def run(self):
        try:
            self.deploy()
            self.load()
            self.finish()
        except KeyboardInterrupt as interrupt:
            log(f"interrupted ({interrupt}): stopping everything")
            self.failures.append("interrupted")
        finally:
            STOP.set()
            stop_all()
        self.print()
        return 1 if self.failures or not self.result else 0

    def deploy(self):
        """The simulator, the database's tills, two Odoo servers, the customers."""
        a = self.a
        _proc, self.sim_url = start_simulator(a.logdir, a.seed)
        self.sim = Sim(self.sim_url)
        log(f"simulator {self.sim_url}")
        self.info = run_task(a.conf, a.db, "setup", self.sim_url, str(a.tills))
        self.servers = [
            Server("A", a.conf, a.db, a.logdir, a.workers),
            Server("B", a.conf, a.db, a.logdir, a.second_workers),
        ]
        for server in self.servers:
            server.wait_ready()
            log(
                f"odoo {server.name} {server.url}: master {server.proc.pid}, http workers"
                f" {server.worker_pids('http')}, cron worker {server.worker_pids('cron')}"
            )
        self.db = Db(a.db)
        self.admin = Rpc(self.servers[0].url, a.db, *ADMIN)
        # The customers, identified once before the faults (the first identification
        # creates them in Odoo): a till picks them from its list when CRM.COM fails.
        cashier = Rpc(self.servers[0].url, a.db, *CASHIER)
        self.partners = {}
        for key, (_number, card) in PEOPLE.items():
            answer = cashier.call(
                "pos.config",
                "crmcom_identify_customer",
                [[self.info["tills"][0]["config_id"]], "access_token", card],
            )
            if answer.get("ok"):
                self.partners[key] = answer["partner_id"]
        state = self.sim.state()
        self.wallets_start = state["wallets"]
        self.mark = (len(state["calls"]), state["login_count"])

    def load(self):
        """Faults on, chaos started, the tills run (bounded), their ledgers read."""
        a = self.a
        if not a.no_faults:
            self.sim.s.post(
                f"{self.sim_url}/_simulator/faults",
                json=[
                    {"endpoint": "*", "times": None, "probability": FAULT_PROBABILITY, **fault}
                    for fault in FAULTS
                ],
                timeout=10,
            )
        pending_flag = os.path.join(a.logdir, "kills-pending")
        with open(pending_flag, "w") as flag:
            flag.write(",".join(a.kills))
        self.chaos = Chaos(
            self.servers,
            self.sim,
            self.db,
            a.kills,
            expire_every=0 if a.no_faults else 20,
            start_after=5,
            gap=8,
            pending_flag=pending_flag,
        )
        self.chaos.start()
        spec_base = {
            "db": a.db,
            "servers": [server.url for server in self.servers],
            "cashier_id": self.info["cashier_id"],
            "products": self.info["products"],
            "redemption_product_id": self.info["redemption_product_id"],
            "partners": self.partners,
            "orders": a.orders,
            "pending_flag": pending_flag,
            "spend_rate": 0.35,
            "cancel_rate": 0.15,
            "dup_rate": 0.15,
            "refund_rate": 0.12,
        }
        ledgers, procs = [], []
        t_load = time.monotonic()
        for index in range(a.tills):
            spec = dict(
                spec_base,
                index=index,
                home=index % len(self.servers),
                till=self.info["tills"][index],
                seed=a.seed * 1000 + index,
            )
            spec_path = os.path.join(a.logdir, f"till-{index + 1}.spec.json")
            with open(spec_path, "w") as spec_file:
                json.dump(spec, spec_file)
            ledgers.append(os.path.join(a.logdir, f"till-{index + 1}.ledger.jsonl"))
            procs.append(
                spawn(
                    [PY, os.path.abspath(__file__), "till", spec_path, ledgers[-1]],
                    os.path.join(a.logdir, f"till-{index + 1}.log"),
                )
            )
        log(f"{a.tills} tills x {a.orders} orders running (pids {[p.pid for p in procs]})")
        deadline = time.monotonic() + a.load_timeout
        for index, proc in enumerate(procs):
            try:
                proc.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.failures.append(f"till {index + 1} still running after {a.load_timeout:.0f} s")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            if proc.returncode:
                self.failures.append(f"till {index + 1} exited with {proc.returncode} (its log)")
        self.load_s = time.monotonic() - t_load
        self.ledger, self.till_stats, self.till_notes = read_ledgers(ledgers)
        self.uuids = [entry["uuid"] for entry in self.ledger]
        log(f"load done in {self.load_s:.0f} s: {len(self.ledger)} orders in the ledgers")

    def finish(self):
        """Settle (bounded), stop the chaos and the faults, check once."""
        a = self.a
        cron_id = self.info["cron_id"]
        self.final_states = settle(
            self.db,
            self.admin,
            self.uuids,
            cron_id,
            timeout=a.settle_timeout,
            compress=not a.real_time,
            table=self.table,
        )
        STOP.set()
        self.chaos.join(15)
        self.sim.s.delete(f"{self.sim_url}/_simulator/faults", timeout=10)
        if self.chaos.plan:
            self.failures.append(f"kills not done: {self.chaos.plan}")
        if any(state in self.final_states for state in UNSETTLED):
            # One more settle without faults: is it the faults or something stuck?
            self.final_states = settle(
                self.db,
                self.admin,
                self.uuids,
                cron_id,
                timeout=120,
                compress=True,
                table=self.table,
            )
        rows = self.db.orders(self.uuids)
        if a.break_:
            break_exactly_once(self.sim_url, a.break_, self.ledger, rows)
        state = self.sim.state()  # read once
        self.result = check(
            self.ledger, rows, state["purchases"], self.wallets_start, state["wallets"]
        )
        self.calls = state["calls"][self.mark[0] :]
        self.logins = state["login_count"] - self.mark[1]
        self.failures += self.result["problems"]
        if self.till_stats.get("duplicate syncs answered with different orders"):
            self.failures.append("a duplicate sync was answered with two orders")
        self.rows()

    def rows(self):
        """The table: what ran, what the tills saw, CRM.COM, the kills, the check,
        the wallets, the servers' logs."""
        a, servers, result = self.a, self.servers, self.result
        second = (
            f"prefork {a.second_workers} HTTP workers + 1 cron worker"
            if a.second_workers
            else "threaded (workers=0) + 1 cron thread"
        )
        self.table[:0] = [
            (
                "deployment",
                f"server A prefork {a.workers} HTTP workers + 1 cron worker (port"
                f" {servers[0].port}); server B {second} (port {servers[1].port}); one"
                f" database {a.db}; simulator {self.sim_url}",
            ),
            (
                "load",
                f"{a.tills} tills (OS processes), {a.orders} sales each or more (until the"
                f" kills are done): {len(self.ledger)} orders in the ledgers in"
                f" {self.load_s:.0f} s ({len(self.ledger) / max(self.load_s, 1e-9):.1f} orders/s)",
            ),
        ]
        for key in sorted(self.till_stats):
            self.table.append(("till", f"{key}: {self.till_stats[key]}"))
        for key, value in sorted(self.till_notes.items()):
            self.table.append(("till", f"{key}: {value}"))
        faulted = Counter(c["status_code"] for c in self.calls if c["status_code"] != "OK")
        self.table.append(
            (
                "CRM.COM",
                f"{len(self.calls)} calls, {sum(faulted.values())} faulted"
                f" ({sum(faulted.values()) / max(1, len(self.calls)):.0%}): {dict(faulted)};"
                f" tokens expired {self.chaos.expiries} times; {self.logins} logins",
            )
        )
        for kill in self.chaos.kills:
            respawned = (
                f"as pid {kill['respawned'][0]} after {kill['respawned'][1]:.1f} s"
                if kill["respawned"]
                else "NOT within 30 s"
            )
            self.table.append(
                (
                    f"SIGKILL {KIND_NAMES[kill['kind']]}",
                    f"server {kill['server']} pid {kill['pid']} at {kill['at']}"
                    + f", transaction open {kill['xact_age']:.1f} s holding pos.order rows"
                    + (f" ({kill['what']})" if kill["what"] else "")
                    + f"; its last log record: {kill['doing']}; respawned {respawned}",
                )
            )
            if not kill["respawned"]:
                self.failures.append(f"{kill['kind']} worker {kill['pid']} not respawned")
        for error in self.chaos.errors[:3]:
            self.table.append(("chaos error", error[:200]))
        self.table.append(("Odoo states", json.dumps(dict(sorted(self.final_states.items())))))
        self.table.append(
            (
                "check",
                f"{result['paid']} paid sales, {result['due']} due in CRM.COM;"
                f" {result['posted']} with exactly one POSTED purchase, {result['duplicates']}"
                f" duplicates, {result['lost']} lost, {result['unknown']} purchases of no order;"
                f" {result['cancelled_purchases']} purchases CANCELLED (refunds, cancelled"
                f" redemptions, replaced purchases); {result['refunds']} refunds,"
                f" {result['abandoned']} drafts abandoned; orders twice in Odoo:"
                f" {result['odoo_duplicates']}",
            )
        )
        for number, wallet in result["wallets"].items():
            self.table.append(
                (
                    f"wallet {number}",
                    f"start {wallet['start']}, end {wallet['end']} in CRM.COM; start + POSTED"
                    f" purchases {wallet['crmcom']}; start + Odoo's sent orders {wallet['odoo']}",
                )
            )
        for server in servers:
            self.server_rows(server)

    def server_rows(self, server):
        records = log_records(server.logfile)
        levels = Counter()
        for (level, _msg), count in records.items():
            levels[level] += count
        self.table.append((f"odoo {server.name} log", json.dumps(dict(levels))))
        count, last = crashes(server.outfile)
        if count:
            self.table.append(
                (f"odoo {server.name} stderr", f"{count} tracebacks, the last: {last[:200]}")
            )
        for (level, msg), count in records.most_common(6):
            self.table.append((f"odoo {server.name} {level}", f"{count}x {msg}"))

    def print(self):
        a, result = self.a, self.result
        print()
        print("| soak | |")
        print("|---|---|")
        for name, text in self.table:
            print(f"| {name} | {text} |")
        if self.failures:
            print()
            print(f"{len(self.failures)} problem(s):")
            for failure in self.failures[:40]:
                print(f"- {failure}")
        print()
        if not result:
            print(f"soak: FAILED before the check ({'; '.join(self.failures) or 'see the log'})")
            return
        workers = (
            f"{a.workers} workers each"
            if a.workers == a.second_workers
            else f"{a.workers} + {a.second_workers} workers"
        )
        print(
            f"soak: 2 servers, {workers}: {result['paid']} orders ({result['due']} due in"
            f" CRM.COM) -> {result['posted']} POSTED purchases,"
            f" {result['duplicates']} duplicates, {result['lost']} lost;"
            f" {self.logins} login{'s' if self.logins != 1 else ''};"
            f" wallets {'match' if result['wallets_match'] else 'DO NOT MATCH'};"
            f" {len(self.chaos.kills)} kills"
            + ("" if not self.failures else f"; FAILED ({len(self.failures)})")
        )


KIND_NAMES = {"http": "HTTP worker", "cron": "cron worker"}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "till":
        till_main(sys.argv[2], sys.argv[3])
        return 0
    # SIGINT too: a shell that starts the soak in the background ignores it.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    return Soak(parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
