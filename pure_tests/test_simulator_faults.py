"""Fault injection, the /_simulator/ control API, Python state reads, and the CLI."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from crmcom_simulator import Fault, ScenarioError, Simulator, load_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
CREATE = "customer_events/purchases/create"
SHOW = "rewards_participants/show"


def create_response(api, purchase_body, reference="F-1", timeout=5):
    return api.post(CREATE, purchase_body(reference=reference), timeout=timeout)


def show_alice(api, timeout=5):
    return api.post(SHOW, {"rewards_participant_identifier": {"number": "RP0001"}}, timeout=timeout)


# ---- fault kinds -----------------------------------------------------------------


def test_latency_fault_delays_then_answers(simulator, sim_api):
    simulator.inject(Fault(endpoint=SHOW, kind="latency", delay=0.2))
    started = time.monotonic()
    assert show_alice(sim_api).json()["status"]["code"] == "OK"
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert show_alice(sim_api).json()["status"]["code"] == "OK"  # times=1: spent
    assert time.monotonic() - started < 0.15
    assert simulator.calls[-2]["duration"] >= 0.2


def test_set_latency_slows_every_answer(simulator, sim_api):
    simulator.set_latency(0.1)
    started = time.monotonic()
    show_alice(sim_api)
    show_alice(sim_api)
    assert time.monotonic() - started >= 0.2
    simulator.set_latency(0)


def test_peak_in_flight_counts_requests_served_at_the_same_time(simulator, sim_api):
    simulator.set_latency(0.5)
    show_alice(sim_api)
    assert simulator.peak_in_flight == 1
    threads = [threading.Thread(target=show_alice, args=(sim_api,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert simulator.peak_in_flight == 3
    assert simulator.snapshot()["peak_in_flight"] == 3
    # A request counts until its handler returns, a moment after the client has the
    # answer: wait for the last one (bounded) rather than race it.
    deadline = time.monotonic() + 2.0
    while simulator.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert simulator.in_flight == 0


def test_in_flight_counts_the_requests_being_served_now(simulator, sim_api):
    simulator.set_latency(1.0)
    thread = threading.Thread(target=show_alice, args=(sim_api,))
    thread.start()
    deadline = time.monotonic() + 10
    while not simulator.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert simulator.in_flight == 1
    thread.join()
    assert simulator.in_flight == 0
    simulator.reset()
    assert simulator.peak_in_flight == 0


def test_latency_does_not_stop_a_request_from_being_applied(simulator, sim_api, purchase_body):
    simulator.set_latency(0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_response(sim_api, purchase_body, timeout=0.1)
    time.sleep(0.35)
    assert len(simulator.purchases(reference_number="F-1")) == 1


def test_error_fault_answers_the_envelope_and_applies_nothing(simulator, sim_api, purchase_body):
    simulator.inject(Fault(endpoint=CREATE, kind="error", code="SERVICE_DOWN", message="Try later"))
    response = create_response(sim_api, purchase_body)
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["status"]["code"] == "SERVICE_DOWN"
    assert envelope["status"]["message"] == "Try later"
    assert envelope["data"] is None
    assert simulator.purchases() == []
    assert simulator.calls[-1] == {
        **simulator.calls[-1],
        "endpoint": CREATE,
        "status_code": "SERVICE_DOWN",
        "applied": False,
    }
    assert create_response(sim_api, purchase_body).json()["status"]["code"] == "OK"


def test_http_error_fault_is_an_html_page(simulator, sim_api, purchase_body):
    simulator.inject(Fault(endpoint=CREATE, kind="http_error", http_status=502))
    response = create_response(sim_api, purchase_body)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    assert simulator.purchases() == []
    assert simulator.calls[-1]["status_code"] == "HTTP_502"
    assert simulator.calls[-1]["applied"] is False


@pytest.mark.parametrize("applied", [False, True])
def test_malformed_fault_body_is_not_json(simulator, sim_api, purchase_body, applied):
    simulator.inject(Fault(endpoint=CREATE, kind="malformed", applied=applied))
    response = create_response(sim_api, purchase_body)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    assert len(simulator.purchases(reference_number="F-1")) == (1 if applied else 0)
    assert simulator.calls[-1]["status_code"] == "MALFORMED"
    assert simulator.calls[-1]["applied"] is applied


@pytest.mark.parametrize("applied", [False, True])
def test_drop_fault_closes_the_connection(simulator, sim_api, purchase_body, applied):
    simulator.inject(Fault(endpoint=CREATE, kind="drop", applied=applied))
    with pytest.raises(requests.exceptions.ConnectionError):
        create_response(sim_api, purchase_body)
    purchases = simulator.purchases(reference_number="F-1")
    assert len(purchases) == (1 if applied else 0)
    expected_wallet = Decimal("29.00") if applied else Decimal("20.00")
    assert simulator.wallet_balance("RP0001") == expected_wallet
    assert simulator.calls[-1]["status_code"] == "DROPPED"
    assert simulator.calls[-1]["applied"] is applied
    # the session reconnects for the next request
    assert show_alice(sim_api).json()["status"]["code"] == "OK"


def test_drop_after_apply_with_delay_models_a_client_timeout(simulator, sim_api, purchase_body):
    simulator.inject(Fault(endpoint=CREATE, kind="drop", applied=True, delay=0.5))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_response(sim_api, purchase_body, timeout=0.15)
    assert time.monotonic() - started < 0.45
    # already applied although the client is still waiting for an answer
    assert [p["reference_number"] for p in simulator.purchases()] == ["F-1"]


def test_drop_before_apply_with_delay_applies_nothing(simulator, sim_api, purchase_body):
    simulator.inject(Fault(endpoint=CREATE, kind="drop", delay=0.2))
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_response(sim_api, purchase_body, timeout=0.1)
    time.sleep(0.25)
    assert simulator.purchases() == []


def test_wildcard_fault_until_cleared(simulator, sim_api, purchase_body):
    simulator.inject(Fault(endpoint="*", kind="error", times=None))
    for _ in range(3):
        assert show_alice(sim_api).json()["status"]["code"] == "INTERNAL_ERROR"
    assert create_response(sim_api, purchase_body).json()["status"]["code"] == ("INTERNAL_ERROR")
    simulator.clear_faults()
    assert show_alice(sim_api).json()["status"]["code"] == "OK"


def test_fault_only_hits_its_endpoint_and_counts_times(simulator, sim_api, purchase_body):
    simulator.inject(Fault(endpoint=CREATE, kind="error", times=2))
    assert show_alice(sim_api).json()["status"]["code"] == "OK"
    codes = [
        create_response(sim_api, purchase_body, reference=f"T{n}").json()["status"]["code"]
        for n in range(3)
    ]
    assert codes == ["INTERNAL_ERROR", "INTERNAL_ERROR", "OK"]
    assert simulator.call_count(CREATE) == 3
    assert simulator.call_count(SHOW) == 1
    assert simulator.call_count() == 5  # the login counts too


def test_probability_uses_the_seeded_random(simulator_factory, sim_api_for):
    sim = simulator_factory(None, seed=7)
    api = sim_api_for(sim)
    sim.inject(Fault(endpoint=SHOW, kind="error", times=None, probability=0.5))
    codes = [show_alice(api).json()["status"]["code"] for _ in range(20)]
    rng = random.Random(7)
    expected = ["INTERNAL_ERROR" if rng.random() < 0.5 else "OK" for _ in range(20)]
    assert codes == expected
    assert 0 < codes.count("OK") < 20


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "explode"},
        {"times": 0},
        {"probability": 1.5},
        {"delay": -1},
        {"kind": "error", "applied": True},
        {"kind": "http_error", "http_status": 200},
    ],
)
def test_fault_validation(fields):
    with pytest.raises(ValueError):
        Fault(**fields)


# ---- state reads and reset -------------------------------------------------------


def test_snapshot_is_json_and_reset_restores_everything(simulator, sim_api, purchase_body):
    create_response(sim_api, purchase_body)
    simulator.inject(Fault(endpoint=SHOW, kind="error", times=None))
    simulator.set_latency(0.01)
    snapshot = json.loads(json.dumps(simulator.snapshot()))
    assert snapshot["wallets"]["RP0001"] == 29
    assert snapshot["purchases"][0]["reference_number"] == "F-1"
    assert len(snapshot["spend_requests"]) == 1  # the instant spend
    assert snapshot["login_count"] == 1
    assert snapshot["call_counts"] == {"authentication/token": 1, CREATE: 1}
    assert snapshot["faults"][0]["endpoint"] == SHOW
    assert snapshot["config"] == {
        "latency": 0.01,
        "token_ttl": 7200,
        "field_style": "docs",
    }

    simulator.reset()
    assert simulator.wallet_balance("RP0001") == Decimal("20.00")
    assert simulator.purchases() == []
    assert simulator.spend_requests() == []
    assert simulator.calls == []
    assert simulator.login_count == 0
    assert simulator.latency == 0
    # the token survives a reset; faults do not; numbering starts again
    assert show_alice(sim_api).json()["status"]["code"] == "OK"
    assert create_response(sim_api, purchase_body).json()["data"]["number"] == "CE000001"


def test_state_reads_are_copies(simulator, sim_api, purchase_body):
    create_response(sim_api, purchase_body)
    purchases = simulator.purchases()
    purchases[0]["total_amount"] = 0
    purchases[0]["products_set"].clear()
    calls = simulator.calls
    calls.clear()
    assert simulator.purchases()[0]["total_amount"] == Decimal("100.00")
    assert len(simulator.purchases()[0]["products_set"]) == 3
    assert [c["endpoint"] for c in simulator.calls] == ["authentication/token", CREATE]


# ---- control API -----------------------------------------------------------------


def control(sim, verb, action, body=None):
    response = requests.request(verb, f"{sim.base_url}/_simulator/{action}", json=body, timeout=5)
    return response.status_code, response.json()


def test_control_api(simulator, sim_api, purchase_body):
    status, envelope = control(
        simulator,
        "POST",
        "faults",
        [{"endpoint": SHOW, "kind": "error", "code": "DOWN"}],
    )
    assert status == 200 and envelope["data"]["faults"][0]["code"] == "DOWN"
    assert show_alice(sim_api).json()["status"]["code"] == "DOWN"
    control(simulator, "POST", "faults", {"endpoint": SHOW, "kind": "error", "times": None})
    assert control(simulator, "DELETE", "faults")[1]["data"] == {"faults": []}
    assert show_alice(sim_api).json()["status"]["code"] == "OK"

    status, envelope = control(
        simulator,
        "POST",
        "config",
        {"latency": 0.05, "token_ttl": 60, "field_style": "alternate"},
    )
    assert envelope["data"] == {
        "latency": 0.05,
        "token_ttl": 60,
        "field_style": "alternate",
    }
    assert (simulator.latency, simulator.token_ttl, simulator.field_style) == (
        0.05,
        60,
        "alternate",
    )
    create_response(sim_api, purchase_body)
    state = control(simulator, "GET", "state")[1]["data"]
    assert state["wallets"]["RP0001"] == 29
    assert state["calls"][-1]["endpoint"] == CREATE
    # control calls are not API calls: neither delayed nor recorded
    assert all(not c["endpoint"].startswith("_") for c in state["calls"])

    assert control(simulator, "POST", "expire_tokens")[0] == 200
    assert show_alice(sim_api).json()["status"]["code"] == "INVALID_TOKEN"
    assert control(simulator, "POST", "reset")[0] == 200
    assert simulator.purchases() == []
    assert simulator.field_style == "docs"


@pytest.mark.parametrize(
    "verb, action, body, status",
    [
        ("POST", "faults", {"kind": "nope"}, 400),
        ("POST", "faults", {"unknown_field": 1}, 400),
        ("POST", "config", {"latency": "slow"}, 400),
        ("POST", "config", {"colour": "red"}, 400),
        ("POST", "config", {"field_style": "fancy"}, 400),
        ("GET", "nothing", None, 404),
        ("POST", "state", None, 404),
    ],
)
def test_control_api_refuses_bad_requests(simulator, verb, action, body, status):
    code, envelope = control(simulator, verb, action, body)
    assert code == status
    assert envelope["status"]["code"] != "OK"
    assert simulator.faults.describe() == []


# ---- scenarios -------------------------------------------------------------------


def test_bundled_demo_scenario_has_what_a_demo_needs():
    demo = load_scenario("demo")
    people = demo["participants"]
    assert len(people) >= 5
    assert len({p["wallet"]["balance"] for p in people}) >= 5
    kinds = {t["kind"] for p in people for t in p["access_tokens"]}
    assert {"CARD", "PHONE", "EMAIL", "APP"} <= kinds
    assert any(p["life_cycle_state"] == "TERMINATED" for p in people)
    assert any(p["spend_blocking_state"] == "BLOCKED" for p in people)
    assert any(p["auto_spend_authorisation"].get("enabled") for p in people)
    methods = {u["reduction_method"] for u in demo["units"]}
    assert methods == {"FRONT_END_REDUCTION", "BACK_END_REDUCTION"}
    offers = demo["offers"]
    assert any("percent" in o and not o.get("product_codes") for o in offers)
    assert any("amount" in o and o.get("min_total") for o in offers)
    assert any(o.get("product_codes") for o in offers)
    assert any(o.get("spend_method") == "INSTANTLY" for o in offers)


def test_simulator_accepts_a_scenario_file(tmp_path, simulator_factory, sim_api_for):
    scenario = load_scenario("test")
    scenario["participants"][0]["wallet"]["balance"] = 123.45
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    sim = simulator_factory(str(path))
    assert sim.wallet_balance("RP0001") == Decimal("123.45")
    data = show_alice(sim_api_for(sim)).json()["data"]
    assert data["wallet"]["balance"] == 123.45


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["units"].clear(),
        lambda s: s["offers"].append({"id": "X", "name": "both", "percent": 1, "amount": 1}),
        lambda s: s["offers"].append({"id": "Y", "name": "p", "percent": 1, "units": ["?"]}),
        lambda s: s["participants"].append(dict(s["participants"][0])),
        lambda s: s["settings"].update(default_product="NOPE"),
        lambda s: s["settings"].update(field_style="odd"),
        lambda s: s["units"][0].update(reduction_method="SIDEWAYS"),
    ],
)
def test_inconsistent_scenarios_are_refused(change):
    scenario = load_scenario("test")
    change(scenario)
    with pytest.raises(ScenarioError):
        Simulator(scenario)


def test_unreadable_scenario_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ScenarioError):
        load_scenario(broken)


def test_context_manager_starts_and_stops():
    with Simulator() as sim:
        url = sim.base_url
        assert requests.get(url + "/_simulator/state", timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/_simulator/state", timeout=1)


def test_stop_closes_kept_alive_connections(simulator_factory, sim_api_for):
    sim = simulator_factory()
    api = sim_api_for(sim)
    assert show_alice(api).json()["status"]["code"] == "OK"  # the session keeps it open
    sim.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        show_alice(api, timeout=1)


# ---- CLI -------------------------------------------------------------------------


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "crmcom_simulator", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_port(path, process, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return int(path.read_text())
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("the simulator did not write its port file")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(tmp_path, stop_signal):
    port_file = tmp_path / "port"
    process = run_cli("--scenario", "demo", "--port-file", str(port_file), "--latency", "0")
    try:
        port = wait_for_port(port_file, process)
        line = process.stdout.readline().strip()
        assert line == f"CRM.COM simulator listening on http://127.0.0.1:{port}"
        envelope = requests.post(
            f"http://127.0.0.1:{port}/crmapi/rest/v2/authentication/token",
            json={
                "username": "demo_pos",
                "password": "demo_secret",
                "organisation": "DEMOCAFE",
            },
            timeout=5,
        ).json()
        assert envelope["status"]["code"] == "OK"
        state = requests.get(f"http://127.0.0.1:{port}/_simulator/state", timeout=5).json()
        assert state["data"]["login_count"] == 1
        assert state["data"]["wallets"]["RP0000000019"] == 12.5
    finally:
        process.send_signal(stop_signal)
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0


def test_cli_refuses_a_bad_scenario(tmp_path):
    process = run_cli("--scenario", str(tmp_path / "missing.json"))
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "cannot read scenario" in stderr
