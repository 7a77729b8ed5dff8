"""The simulator's strict switches (a stricter CRM.COM, issue #13), over real HTTP with
plain `requests`: each is off by default and turned on per scenario settings, per
``Simulator(settings=...)`` or per ``reset(settings=...)``."""

import datetime
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from crmcom_simulator import Fault, ScenarioError, Simulator
from test_simulator import create, show, spend, spent_amount

CANCEL = "customer_events/purchases/cancel"
LIST = "customer_events/purchases/list"
COFFEE_ONLY = (("COFFEE", "16.81", "3.19", "20.00"),)


# ---- settings plumbing -----------------------------------------------------------


def test_every_strict_switch_is_off_by_default(simulator):
    settings = simulator.engine.catalogue.settings
    assert settings["error_codes"] == {}
    assert settings["session_error_http_status"] == 200
    assert settings["timezone"] is None
    assert settings["omit_inferred_fields"] is False
    assert settings["unique_external_system_reference_numbers"] is False
    assert settings["spend_everything"] is False
    assert settings["token_idle_timeout"] is None
    assert settings["strict"] is False


def test_settings_per_constructor_and_per_reset(simulator_factory, sim_api_for, purchase_body):
    sim = simulator_factory(settings={"strict": True})
    api = sim_api_for(sim)
    body = purchase_body("R-S1", lines=(("MUFFIN", "1", "0", "1"),))
    assert api.call("customer_events/purchases/create", **body)["status"]["code"] == "NOT_FOUND"
    sim.reset(settings={})  # back to the scenario's own settings
    assert create(api, body)["products_set"][0]["intended_product_value"] == "MUFFIN"
    sim.reset(settings={"strict": True})
    assert sim.engine.catalogue.settings["strict"] is True
    sim.reset()  # keeps the settings of the last reset
    assert sim.engine.catalogue.settings["strict"] is True


@pytest.mark.parametrize(
    "settings",
    [
        {"error_codes": {"NOT_FOUND": "OK"}},
        {"error_codes": ["NOT_FOUND"]},
        {"session_error_http_status": 99},
        {"timezone": "Mars/Olympus_Mons"},
        {"omit_inferred_fields": ["total_amount"]},
        {"token_idle_timeout": 0},
        {"strict": "yes"},
        {"spend_everything": 1},
    ],
)
def test_unusable_strict_settings_are_refused(settings):
    with pytest.raises(ScenarioError):
        Simulator(settings=settings)


# ---- error codes of its own ------------------------------------------------------


def test_error_codes_are_scenario_settings(simulator_factory, sim_api_for):
    sim = simulator_factory(
        settings={
            "error_codes": {
                "ACCESS_TOKEN_NOT_FOUND": "ACCESS_TOKEN_NOT_FOUND",
                "INVALID_TOKEN": {"code": "E1017", "message": "Denied.", "description": ""},
            }
        }
    )
    api = sim_api_for(sim)
    unknown_card = show(api, access_token_identifier={"authentication_code": "NO-CARD"})
    assert unknown_card["status"]["code"] == "ACCESS_TOKEN_NOT_FOUND"
    # Other not-found errors keep their code.
    assert show(api, number="RP9999")["status"]["code"] == "NOT_FOUND"
    sim.expire_tokens()
    answer = api.post("rewards_participants/show", {"rewards_participant_identifier": {}})
    assert answer.status_code == 200
    assert answer.json()["status"] == {"code": "E1017", "message": "Denied.", "description": ""}
    assert sim.calls[-1]["status_code"] == "E1017"


def test_session_errors_may_come_with_http_401(simulator_factory, sim_api_for):
    sim = simulator_factory(settings={"session_error_http_status": 401})
    api = sim_api_for(sim)
    assert show(api, number="RP0001")["status"]["code"] == "OK"
    sim.expire_tokens()
    answer = api.post("rewards_participants/show", {"rewards_participant_identifier": {}})
    assert answer.status_code == 401
    assert answer.json()["status"]["code"] == "INVALID_TOKEN"
    # Only session errors: a refused request stays HTTP 200.
    api.login()
    answer = api.post("rewards_participants/show", {"rewards_participant_identifier": {}})
    assert (answer.status_code, answer.json()["status"]["code"]) == (200, "INVALID_PARAMETER")


# ---- a time zone of its own ------------------------------------------------------


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Nicosia"])
def test_time_zone_stamps_and_reads_dates_in_the_servers_zone(
    simulator_factory, sim_api_for, purchase_body, zone
):
    moment = datetime.datetime(2026, 7, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    sim = simulator_factory(settings={"timezone": zone}, clock=lambda: moment)
    api = sim_api_for(sim)
    created = create(api, purchase_body("R-TZ"))
    local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    assert created["log_information"]["created_date"] == local.isoformat()
    assert local != moment.replace(tzinfo=None)
    customer = {"rewards_participant_identifier": {"number": "RP0001"}}
    # The bounds it receives are its own wall-clock times.
    just_before = (local - datetime.timedelta(seconds=1)).isoformat()
    just_after = (local + datetime.timedelta(seconds=1)).isoformat()
    assert len(api.ok(LIST, submitted_after_date=just_before, **customer)) == 1
    assert api.ok(LIST, submitted_after_date=just_after, **customer) == []


def test_without_a_time_zone_the_clock_is_taken_as_it_is(
    simulator_factory, sim_api_for, purchase_body
):
    moment = datetime.datetime(2026, 7, 1, 12, 0, 0)
    sim = simulator_factory(clock=lambda: moment)
    created = create(sim_api_for(sim), purchase_body("R-TZ0"))
    assert created["log_information"]["created_date"] == "2026-07-01T12:00:00"


# ---- inferred fields -------------------------------------------------------------


def test_inferred_fields_can_be_left_out(simulator_factory, sim_api_for, purchase_body):
    plain = sim_api_for(simulator_factory())
    assert "total_additional_spend_amount" in create(plain, purchase_body("R-I0"))
    assert "wallet" in show(plain, number="RP0001")["data"]
    sim = simulator_factory(settings={"omit_inferred_fields": True})
    api = sim_api_for(sim)
    created = create(api, purchase_body("R-I1"))
    assert "total_additional_spend_amount" not in created
    assert created["total_spend_amount"] == 6  # the documented totals stay
    assert (
        "total_additional_spend_amount"
        not in api.get(
            "customer_events/purchases/show",
            f"customer_event_identifier=number={created['number']}",
        )["data"]
    )
    assert "wallet" not in show(api, number="RP0001")["data"]
    only_purchase = sim_api_for(
        simulator_factory(settings={"omit_inferred_fields": ["total_additional_spend_amount"]})
    )
    assert "wallet" in show(only_purchase, number="RP0001")["data"]


# ---- unique external_system_reference_number -------------------------------------


def test_external_system_reference_number_may_be_required_unique(
    simulator_factory, sim_api_for, purchase_body
):
    lenient = sim_api_for(simulator_factory())
    create(lenient, purchase_body("R-E1", external_system_reference_number="ORDER-1"))
    create(lenient, purchase_body("R-E2", external_system_reference_number="ORDER-1"))
    sim = simulator_factory(settings={"unique_external_system_reference_numbers": True})
    api = sim_api_for(sim)
    create(api, purchase_body("R-E1", external_system_reference_number="ORDER-1"))
    wallet = sim.wallet_balance("RP0001")
    refused = api.error(
        "customer_events/purchases/create",
        **purchase_body("R-E2", external_system_reference_number="ORDER-1"),
    )
    assert refused["code"] == "DUPLICATE_EXTERNAL_SYSTEM_REFERENCE_NUMBER"
    assert [p["reference_number"] for p in sim.purchases()] == ["R-E1"]
    assert sim.wallet_balance("RP0001") == wallet
    # Among purchases in any state, and only when one is given.
    api.ok(CANCEL, customer_event_identifier={"number": "CE000001"})
    assert api.error(
        "customer_events/purchases/create",
        **purchase_body("R-E3", external_system_reference_number="ORDER-1"),
    )
    create(api, purchase_body("R-E4"))
    create(api, purchase_body("R-E5"))


# ---- spend everything ------------------------------------------------------------


@pytest.mark.parametrize("where", ["settings", "unit"])
def test_spend_everything_ignores_the_amount_asked(
    simulator_factory, sim_api_for, purchase_body, where
):
    if where == "settings":
        sim = simulator_factory(settings={"spend_everything": True})
    else:
        scenario = Simulator().scenario
        scenario["units"][0]["spend_everything"] = True
        sim = simulator_factory(scenario)
    api = sim_api_for(sim)
    purchase = create(api, purchase_body("R-SE", lines=COFFEE_ONLY))
    # Wallet 20.00 (the purchase's own 3.00 award is not spendable), purchase 20.00.
    answer = spend(api, purchase["number"], amount=1)
    assert answer["status"]["code"] == "OK"
    assert answer["data"]["spend_amount"] == 1
    assert spent_amount(answer["data"]) == 20
    assert sim.wallet_balance("RP0001") == Decimal("3.00")
    # Nothing left of the purchase: refused.
    assert spend(api, purchase["number"], amount=1)["status"]["code"] == (
        "INSUFFICIENT_WALLET_BALANCE"
    )


def test_spend_everything_is_bounded_by_the_wallet(simulator_factory, sim_api_for, purchase_body):
    sim = simulator_factory(settings={"spend_everything": True})
    api = sim_api_for(sim)
    purchase = create(api, purchase_body("R-SW", lines=(("COFFEE", "84.03", "15.97", "100.00"),)))
    answer = spend(api, purchase["number"], amount=2)
    assert spent_amount(answer["data"]) == 20  # the whole wallet, not the 100.00 owed


def test_without_spend_everything_the_amount_asked_is_spent(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body("R-SN", lines=COFFEE_ONLY))
    assert spent_amount(spend(sim_api, purchase["number"], amount=1)["data"]) == 1


# ---- idle tokens (before R12) ----------------------------------------------------


def test_tokens_may_expire_when_left_idle(simulator_factory, sim_api_for):
    sim = simulator_factory(settings={"token_idle_timeout": 0.8})
    api = sim_api_for(sim)
    for _ in range(4):  # used every 0.3 s: never idle long enough, 1.2 s in all
        time.sleep(0.3)
        assert show(api, number="RP0001")["status"]["code"] == "OK"
    time.sleep(0.9)
    refused = show(api, number="RP0001")["status"]
    assert refused["code"] == "INVALID_TOKEN"
    assert "idle" in refused["message"]
    assert show(api, number="RP0001")["status"]["code"] == "INVALID_TOKEN"  # for good


def test_tokens_are_not_idle_by_default(simulator_factory, sim_api_for):
    sim = simulator_factory()
    sim.engine.tokens.idle_timeout = None
    api = sim_api_for(sim)
    time.sleep(0.5)
    assert show(api, number="RP0001")["status"]["code"] == "OK"


def test_idle_expiry_has_its_own_error_name(simulator_factory, sim_api_for):
    sim = simulator_factory(
        settings={"token_idle_timeout": 0.2, "error_codes": {"TOKEN_IDLE_EXPIRED": "E_IDLE"}}
    )
    api = sim_api_for(sim)
    time.sleep(0.3)
    assert show(api, number="RP0001")["status"]["code"] == "E_IDLE"


# ---- cancelling a cancelled purchase ---------------------------------------------


def test_cancelling_a_cancelled_purchase_is_refused_with_a_code_of_its_own(
    simulator_factory, sim_api_for, purchase_body
):
    sim = simulator_factory(settings={"error_codes": {"ALREADY_CANCELLED": "E_CANCELLED"}})
    api = sim_api_for(sim)
    purchase = create(api, purchase_body("R-C"))
    api.ok(CANCEL, customer_event_identifier={"number": purchase["number"]})
    wallet = sim.wallet_balance("RP0001")
    refused = api.error(CANCEL, customer_event_identifier={"number": purchase["number"]})
    assert refused["code"] == "E_CANCELLED"
    assert sim.wallet_balance("RP0001") == wallet
    default = sim_api_for(simulator_factory())
    purchase = create(default, purchase_body("R-C"))
    default.ok(CANCEL, customer_event_identifier={"number": purchase["number"]})
    assert default.error(CANCEL, customer_event_identifier={"number": purchase["number"]})[
        "code"
    ] == ("NOT_POSTED")


# ---- strict amounts and products -------------------------------------------------


def test_strict_refuses_more_than_two_decimals_and_unknown_products(
    simulator_factory, sim_api_for, purchase_body
):
    three_decimals = purchase_body("R-D", lines=(("COFFEE", "16.805", "3.195", "20.00"),))
    unknown = purchase_body("R-U", lines=(("MUFFIN", "16.81", "3.19", "20.00"),))
    lenient = sim_api_for(simulator_factory())
    assert create(lenient, three_decimals)["products_set"][0]["net_amount"] == 16.81
    create(lenient, unknown)
    sim = simulator_factory(settings={"strict": True})
    api = sim_api_for(sim)
    refused = api.error("customer_events/purchases/create", **three_decimals)
    assert refused["code"] == "INVALID_PARAMETER"
    assert "products_set[0].net_amount" in refused["message"]
    assert api.error("customer_events/purchases/create", **unknown)["code"] == "NOT_FOUND"
    purchase = create(api, purchase_body("R-OK", lines=COFFEE_ONLY))
    assert spend(api, purchase["number"], amount=1.005)["status"]["code"] == "INVALID_PARAMETER"
    assert sim.purchases(reference_number="R-D") == []


# ---- redirects on demand ---------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_redirect_fault_points_to_a_trap_that_records_what_arrives(simulator, status):
    simulator.inject(Fault(endpoint="authentication/token", kind="redirect", http_status=status))
    url = simulator.base_url + "/crmapi/rest/v2/authentication/token"
    body = {"username": "pos_user", "password": "pos_secret", "organisation": "TESTORG"}
    answer = requests.post(url, json=body, allow_redirects=False, timeout=5)
    assert answer.status_code == status
    assert answer.headers["Location"].startswith(simulator.trap_url())
    assert answer.headers["Location"] != url
    assert simulator.trap_requests == []
    assert simulator.login_count == 0
    assert simulator.calls[-1]["status_code"] == f"HTTP_{status}"
    # A client that follows it hands the trap the login body.
    simulator.inject(Fault(endpoint="authentication/token", kind="redirect", http_status=status))
    requests.post(url, json=body, allow_redirects=True, timeout=5)
    (trapped,) = simulator.trap_requests
    assert trapped["path"] == "/crmapi/rest/v2/authentication/token"
    assert "pos_secret" in trapped["body"]
    simulator.reset()
    assert simulator.trap_requests == []


def test_redirect_fault_validation():
    with pytest.raises(ValueError):
        Fault(kind="redirect", http_status=503)
    with pytest.raises(ValueError):
        Fault(kind="error", location="http://127.0.0.1:1/")
    assert Fault(kind="redirect").http_status == 307
    assert Fault(kind="http_error").http_status == 503
