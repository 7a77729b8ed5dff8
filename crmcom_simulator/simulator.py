"""The Simulator: a CRM.COM Rewards stand-in served over HTTP on loopback."""

import contextlib
import copy
import json
import socket
import threading

from .engine import Engine
from .errors import UNKNOWN_METHOD, ControlError
from .faults import Fault, FaultBoard
from .money import plain
from .scenario import FIELD_STYLES, load_scenario
from .server import SimulatorServer, TrapServer


class Simulator:
    """Serve a scenario; inspect and steer it from tests.

    scenario: dict, JSON file path, "test" or "demo" (default: the test scenario).
    seed: seeds the random choices of faults with probability < 1.
    clock: callable returning a naive datetime, for created dates (default now).
    latency: seconds added to every API answer (also what reset() restores).
    """

    def __init__(self, scenario=None, *, seed=0, clock=None, latency=0.0, settings=None):
        self._base_scenario = load_scenario(scenario)
        self.scenario = _with_settings(self._base_scenario, settings)
        self.engine = Engine(self.scenario, clock=clock)
        self.faults = FaultBoard(seed)
        self._initial_latency = float(latency)
        self.latency = float(latency)
        self._initial_token_ttl = self.engine.catalogue.settings["token_ttl"]
        self.engine.tokens.ttl = self._initial_token_ttl
        self._calls = []
        self._calls_lock = threading.Lock()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._server = None
        self._thread = None
        self._trap = None

    # ---- serving -----------------------------------------------------------------

    def start(self, host="127.0.0.1", port=0):
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._server = SimulatorServer((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="crmcom-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        self._stop_trap()
        server, self._server = self._server, None
        if server is None:
            return
        _shut_down(server)
        server.close_connections()
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self):
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def host(self):
        return self._require_server().server_address[0]

    @property
    def port(self):
        return self._require_server().server_address[1]

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    # ---- the redirect trap ---------------------------------------------------------

    def trap_url(self):
        """Base URL of the trap listener (another loopback port, started on first use):
        where redirect faults point unless they name a location."""
        with self._calls_lock:
            if self._trap is None:
                self._trap = TrapServer((self.host, 0))
                threading.Thread(
                    target=self._trap.serve_forever, name="crmcom-simulator-trap", daemon=True
                ).start()
            host, port = self._trap.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def trap_requests(self):
        """Every request that reached the trap listener (method, path, authorization,
        body): a client that never follows redirects leaves it empty."""
        trap = self._trap
        if trap is None:
            return []
        with trap.requests_lock:
            return copy.deepcopy(trap.requests)

    def _stop_trap(self):
        trap, self._trap = self._trap, None
        if trap is not None:
            _shut_down(trap)

    def _require_server(self):
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return self._server

    # ---- steering ----------------------------------------------------------------

    def inject(self, fault):
        """Add a Fault (or a dict of Fault fields); returns the Fault."""
        if isinstance(fault, dict):
            fault = Fault.from_dict(fault)
        self.faults.add(fault)
        return fault

    def clear_faults(self):
        self.faults.clear()

    def set_latency(self, seconds):
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self.latency = float(seconds)

    @property
    def token_ttl(self):
        return self.engine.tokens.ttl

    @token_ttl.setter
    def token_ttl(self, seconds):
        if seconds < 0:
            raise ValueError("token_ttl must not be negative")
        with self.engine.lock:
            self.engine.tokens.ttl = seconds

    @property
    def field_style(self):
        return self.engine.field_style

    @field_style.setter
    def field_style(self, style):
        if style not in FIELD_STYLES:
            raise ValueError(f"field_style must be one of {FIELD_STYLES}")
        with self.engine.lock:
            self.engine.field_style = style

    def expire_tokens(self):
        """Every token issued so far becomes invalid now."""
        with self.engine.lock:
            self.engine.tokens.expire_all()

    def reset(self, settings=None):
        """Scenario state, faults, calls and counters back to the start.

        Latency and token_ttl return to their initial values; issued tokens stay
        valid (a client mid-test need not log in again). ``settings`` (a dict)
        replaces the scenario settings given to the constructor from now on.
        """
        if settings is not None:
            self.scenario = _with_settings(self._base_scenario, settings)
            self.engine.use_scenario(self.scenario)
            self._initial_token_ttl = self.engine.catalogue.settings["token_ttl"]
        self.engine.reset()
        trap = self._trap
        if trap is not None:
            with trap.requests_lock:
                trap.requests.clear()
        self.faults.clear(reseed=True)
        self.latency = self._initial_latency
        self.engine.tokens.ttl = self._initial_token_ttl
        with self._calls_lock:
            self._calls.clear()
            self._peak_in_flight = self._in_flight

    # ---- state reads (deep copies) -----------------------------------------------

    def wallet_balance(self, participant_number):
        return self.engine.wallet_balance(participant_number)

    def purchases(self, reference_number=None, state=None):
        return self.engine.purchase_list(reference_number, state)

    def spend_requests(self, purchase_number=None):
        return self.engine.spend_request_list(purchase_number)

    @property
    def login_count(self):
        return self.engine.login_count

    @property
    def calls(self):
        with self._calls_lock:
            return copy.deepcopy(self._calls)

    def call_count(self, endpoint=None):
        with self._calls_lock:
            return sum(1 for c in self._calls if endpoint in (None, c["endpoint"]))

    @property
    def in_flight(self):
        """The API requests being served right now."""
        with self._calls_lock:
            return self._in_flight

    @property
    def peak_in_flight(self):
        """The most API requests served at the same time since the last reset."""
        with self._calls_lock:
            return self._peak_in_flight

    @contextlib.contextmanager
    def serving_call(self):
        """Counts an API request in flight while it is served."""
        with self._calls_lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._calls_lock:
                self._in_flight -= 1

    def record_call(self, method, endpoint, status_code, duration, applied):
        with self._calls_lock:
            self._calls.append(
                {
                    "method": method,
                    "endpoint": endpoint,
                    "status_code": status_code,
                    "duration": round(duration, 6),
                    "applied": applied,
                }
            )

    def snapshot(self):
        """Everything above as one JSON-able dict (money as JSON numbers)."""
        with self.engine.lock:
            state = {
                "scenario": self.engine.catalogue.name,
                "wallets": self.engine.wallets(),
                "purchases": self.purchases(),
                "spend_requests": self.spend_requests(),
                "login_count": self.login_count,
                "active_tokens": self.engine.tokens.active_count(),
                "peak_in_flight": self.peak_in_flight,
            }
        calls = self.calls
        counts = {}
        for call in calls:
            counts[call["endpoint"]] = counts.get(call["endpoint"], 0) + 1
        state.update(
            calls=calls,
            call_counts=counts,
            faults=self.faults.describe(),
            config={
                "latency": self.latency,
                "token_ttl": self.token_ttl,
                "field_style": self.field_style,
            },
        )
        return plain(state)

    # ---- control API (/_simulator/...) -------------------------------------------

    def control(self, verb, action, body):
        """Serve one control request: the answer's data, or raise ControlError."""
        routes = {
            ("GET", "state"): lambda: self.snapshot(),
            ("POST", "reset"): self._control_reset,
            ("POST", "faults"): lambda: self._control_faults(body),
            ("DELETE", "faults"): self._control_clear_faults,
            ("POST", "config"): lambda: self._control_config(body),
            ("POST", "expire_tokens"): self._control_expire_tokens,
        }
        run = routes.get((verb, action))
        if run is None:
            raise ControlError(
                f"no control action {verb} /_simulator/{action}", 404, UNKNOWN_METHOD
            )
        return run()

    def _control_reset(self):
        self.reset()
        return None

    def _control_clear_faults(self):
        self.clear_faults()
        return {"faults": []}

    def _control_expire_tokens(self):
        self.expire_tokens()
        return None

    def _control_faults(self, body):
        data = _json_body(body)
        items = data if isinstance(data, list) else [data]
        try:
            faults = [Fault.from_dict(item) for item in items]
        except (TypeError, ValueError) as exc:
            raise ControlError(f"invalid fault: {exc}") from None
        for fault in faults:
            self.inject(fault)
        return {"faults": self.faults.describe()}

    def _control_config(self, body):
        data = _json_body(body)
        if not isinstance(data, dict):
            raise ControlError("config must be a JSON object")
        unknown = sorted(set(data) - {"latency", "token_ttl", "field_style"})
        if unknown:
            raise ControlError(f"unknown config keys: {', '.join(unknown)}")
        try:
            if "latency" in data:
                self.set_latency(_number(data["latency"], "latency"))
            if "token_ttl" in data:
                self.token_ttl = _number(data["token_ttl"], "token_ttl")
            if "field_style" in data:
                self.field_style = data["field_style"]
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return {
            "latency": self.latency,
            "token_ttl": self.token_ttl,
            "field_style": self.field_style,
        }


def _with_settings(scenario, settings):
    """The scenario with ``settings`` over its own (validated again)."""
    if not settings:
        return scenario
    if not isinstance(settings, dict):
        raise ValueError("settings must be a dict of scenario settings")
    data = copy.deepcopy(scenario)
    data["settings"] = {**(data.get("settings") or {}), **settings}
    return load_scenario(data)


def _shut_down(server):
    """Stop a socketserver's serve loop and close it. shutdown() waits for the loop
    to wake up (poll interval 0.5 s); connecting to the listening socket wakes it at
    once."""
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    while stopper.is_alive():
        _wake(server.server_address)
        stopper.join(0.01)
    server.server_close()


def _wake(address):
    with contextlib.suppress(OSError):
        socket.create_connection(address[:2], timeout=0.2).close()


def _json_body(body):
    try:
        return json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ControlError(f"the body is not JSON: {exc}") from None


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return value
