"""The simulator's Web API over real HTTP, with plain `requests` (never the client)."""

import base64
import copy
import http.client
import json
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import requests

from crmcom_simulator import load_scenario

ALICE_ID = "40000000000000000000000000000001"
BOB_ID = "40000000000000000000000000000002"
SHOP1_ID = "10000000000000000000000000000001"
WEB_API_KEY = "EE73C0AE64524371B5DDEFF5F7BB2192"


def basic(text):
    return "Basic " + base64.b64encode(text.encode()).decode()


def show(api, **identifier):
    return api.call("rewards_participants/show", rewards_participant_identifier=identifier)


def create(api, body):
    return api.ok("customer_events/purchases/create", **body)


def spend(api, purchase_number, amount=None, participant="RP0001", unit="SHOP1", **extra):
    body = {
        "rewards_participant_identifier": {"number": participant},
        "performed_by_unit_identifier": {"alternative_code": unit},
        "performed_on": "2024-05-02T10:16:00",
        "purchase_customer_request_identifier": {"number": purchase_number},
        **extra,
    }
    if amount is not None:
        body["spend_amount"] = amount
    return api.call("customer_events/spend_requests/create", **body)


def spent_amount(spend_request):
    return spend_request["spend_reward_transaction"]["amount"]


# ---- authentication --------------------------------------------------------------


def test_password_login_returns_jwt_looking_token(simulator, sim_api):
    assert sim_api.token.count(".") == 2
    assert len(sim_api.token) > 32
    assert simulator.login_count == 1
    assert show(sim_api, number="RP0001")["status"]["code"] == "OK"


@pytest.mark.parametrize(
    "field, value",
    [("password", "wrong"), ("organisation", "OTHER"), ("username", "x")],
)
def test_password_login_refuses_wrong_credentials(simulator, field, value):
    body = {"username": "pos_user", "password": "pos_secret", "organisation": "TESTORG"}
    body[field] = value
    envelope = requests.post(
        simulator.base_url + "/crmapi/rest/v2/authentication/token",
        json=body,
        timeout=5,
    ).json()
    assert envelope["status"]["code"] == "INVALID_CREDENTIALS"
    assert envelope["data"] is None
    assert simulator.login_count == 0


def test_password_login_names_the_missing_parameter(sim_api):
    status = sim_api.error(
        "authentication/token", token=None, username="pos_user", password="pos_secret"
    )
    assert status["code"] == "MANDATORY_PARAMETER_MISSING"
    assert "organisation" in status["message"]


@pytest.mark.parametrize("credentials", [WEB_API_KEY + ":", WEB_API_KEY])
def test_web_api_key_login_with_and_without_colon(simulator, credentials):
    response = requests.post(
        simulator.base_url + "/crmapi/rest/v2/authentication/web_api_key/token",
        headers={"Authorization": basic(credentials)},
        timeout=5,
    )
    envelope = response.json()
    assert response.status_code == 200
    assert envelope["status"]["code"] == "OK"
    assert len(envelope["data"]["token"]) > 32
    assert simulator.login_count == 1


def test_web_api_key_login_accepts_a_unit_and_refuses_an_unknown_one(simulator):
    url = simulator.base_url + "/crmapi/rest/v2/authentication/web_api_key/token"
    headers = {"Authorization": basic(WEB_API_KEY + ":")}
    good = requests.post(url, json={"unit": SHOP1_ID}, headers=headers, timeout=5)
    assert good.json()["status"]["code"] == "OK"
    bad = requests.post(url, json={"unit": "F" * 32}, headers=headers, timeout=5)
    assert bad.json()["status"]["code"] == "NOT_FOUND"
    assert simulator.login_count == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": basic("WRONGKEY:")},
        {"Authorization": "Basic !!!"},
        {"Authorization": basic(WEB_API_KEY + ":password")},
    ],
)
def test_web_api_key_login_refuses_wrong_or_missing_key(simulator, headers):
    envelope = requests.post(
        simulator.base_url + "/crmapi/rest/v2/authentication/web_api_key/token",
        headers=headers,
        timeout=5,
    ).json()
    assert envelope["status"]["code"] == "INVALID_CREDENTIALS"
    assert simulator.login_count == 0


def test_token_release_invalidates_the_token(sim_api):
    assert sim_api.call("authentication/token/release")["status"]["code"] == "OK"
    assert show(sim_api, number="RP0001")["status"]["code"] == "INVALID_TOKEN"
    assert sim_api.error("authentication/token/release")["code"] == "INVALID_TOKEN"


def test_token_release_needs_a_token(simulator):
    api_url = simulator.base_url + "/crmapi/rest/v2/authentication/token/release"
    envelope = requests.post(api_url, json={}, timeout=5).json()
    assert envelope["status"]["code"] == "MANDATORY_PARAMETER_MISSING"
    assert "token" in envelope["status"]["message"]


def test_token_expires_after_its_ttl(simulator, sim_api_for):
    simulator.token_ttl = 0.3
    api = sim_api_for(simulator)
    assert show(api, number="RP0001")["status"]["code"] == "OK"
    time.sleep(0.35)
    assert show(api, number="RP0001")["status"]["code"] == "INVALID_TOKEN"


def test_expire_tokens_invalidates_every_token(simulator, sim_api):
    simulator.expire_tokens()
    assert show(sim_api, number="RP0001")["status"]["code"] == "INVALID_TOKEN"
    assert sim_api.login().token  # a new login works again
    assert show(sim_api, number="RP0001")["status"]["code"] == "OK"


@pytest.mark.parametrize("token", [None, "", "not-a-token", 12345])
def test_missing_or_bogus_token_is_refused(sim_api, token):
    envelope = sim_api.post(
        "rewards_participants/show",
        {"token": token, "rewards_participant_identifier": {"number": "RP0001"}},
    ).json()
    assert envelope["status"]["code"] == "INVALID_TOKEN"
    assert envelope["data"] is None


# ---- transport -------------------------------------------------------------------


def test_unknown_method_is_http_404_with_an_envelope(sim_api):
    response = sim_api.post("rewards_participants/explode", {})
    assert response.status_code == 404
    assert response.json()["status"]["code"] == "UNKNOWN_METHOD"
    outside = sim_api.session.get(sim_api.base_url.replace("/crmapi/rest/v2/", "/x"))
    assert outside.status_code == 404
    assert outside.json()["status"]["code"] == "UNKNOWN_METHOD"


def test_wrong_http_verb_is_refused(sim_api):
    response = sim_api.session.get(sim_api.url("rewards_participants/show"), timeout=5)
    assert response.status_code == 405
    assert response.json()["status"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b"", b'"text"', b'{"a": NaN}'])
def test_body_that_is_not_a_json_object_is_invalid_request(sim_api, raw):
    response = sim_api.session.post(
        sim_api.url("rewards_participants/show"),
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["status"]["code"] == "INVALID_REQUEST"


def test_connections_are_kept_alive(simulator):
    connection = http.client.HTTPConnection(simulator.host, simulator.port, timeout=5)
    body = json.dumps({"username": "pos_user", "password": "pos_secret", "organisation": "TESTORG"})
    sockets = []
    for _ in range(3):
        connection.request(
            "POST",
            "/crmapi/rest/v2/authentication/token",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert int(response.getheader("Content-Length")) > 0
        assert json.loads(response.read())["status"]["code"] == "OK"
        sockets.append(connection.sock)
    connection.close()
    assert sockets[0] is sockets[1] is sockets[2]
    assert simulator.login_count == 3


# ---- rewards_participants/show ---------------------------------------------------


@pytest.mark.parametrize(
    "identifier",
    [
        {"id": ALICE_ID},
        {"number": "RP0001"},
        {"access_token_identifier": {"authentication_code": "4000000000000001"}},
        {"access_token_identifier": {"authentication_code": "+35799000001"}},
        {"access_token_identifier": {"authentication_code": "alice@example.com"}},
        {"access_token_identifier": {"authentication_code": "APP-ALICE-0001"}},
        {
            "access_token_identifier": {
                "identifier": "alice@example.com",
                "pass_code": "1111",
            }
        },
    ],
)
def test_show_participant_by_every_identifier(sim_api, identifier):
    data = show(sim_api, **identifier)["data"]
    assert data["id"] == ALICE_ID
    assert data["number"] == "RP0001"
    assert data["life_cycle_state"] == "EFFECTIVE"
    assert data["wallet"]["balance"] == 20
    assert data["wallet"]["currency"] == {"code": "EUR"}
    owner = data["accounts_receivable"]["account_owner"]
    assert (owner["first_name"], owner["last_name"], owner["name"]) == (
        "Alice",
        "Adams",
        None,
    )
    assert data["accounts_receivable"]["name"] == "ACR0001 Alice Adams"
    assert data["accounts_receivable"]["life_cycle_state"] == "ACTIVE"
    assert data["auto_spend_authorisation"]["enabled"] is False
    assert data["spend_blocking_state"] == "UNBLOCKED"
    assert data["sign_up_by_unit"]["alternative_code"] == "SHOP1"


def test_show_participant_details_of_other_customers(sim_api):
    bob = show(sim_api, number="RP0002")["data"]
    assert bob["auto_spend_authorisation"] == {
        "enabled": True,
        "minimum_wallet_balance": 5,
        "minimum_spend_amount": 1,
        "maximum_spend_amount": 10,
    }
    company = show(sim_api, number="RP0005")["data"]["accounts_receivable"]
    assert company["account_owner"]["name"] == "Evans Trading Ltd"
    assert company["account_owner"]["type"] == "COMPANY"
    assert show(sim_api, number="RP0003")["data"]["spend_blocking_state"] == "BLOCKED"
    terminated = show(sim_api, number="RP0004")["data"]
    assert terminated["life_cycle_state"] == "TERMINATED"
    assert terminated["wallet"]["balance"] == 8


@pytest.mark.parametrize(
    "identifier",
    [
        {"number": "RP9999"},
        {"id": "0" * 32},
        {"access_token_identifier": {"authentication_code": "0000"}},
        {
            "access_token_identifier": {
                "identifier": "alice@example.com",
                "pass_code": "9",
            }
        },
        # an access token that is not effective identifies nobody
        {"access_token_identifier": {"authentication_code": "4000000000000009"}},
    ],
)
def test_show_participant_not_found(sim_api, identifier):
    assert show(sim_api, **identifier)["status"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "identifier, code",
    [
        ({}, "INVALID_PARAMETER"),
        ({"number": "RP0001", "id": ALICE_ID}, "INVALID_PARAMETER"),
        ({"code": "RP0001"}, "INVALID_PARAMETER"),
        ({"number": 1}, "INVALID_PARAMETER"),
        ({"access_token_identifier": {}}, "INVALID_PARAMETER"),
        (
            {"access_token_identifier": {"identifier": "a@b"}},
            "MANDATORY_PARAMETER_MISSING",
        ),
        (
            {
                "access_token_identifier": {
                    "authentication_code": "1",
                    "identifier": "2",
                }
            },
            "INVALID_PARAMETER",
        ),
        ("RP0001", "INVALID_PARAMETER"),
        (None, "MANDATORY_PARAMETER_MISSING"),
    ],
)
def test_show_participant_validates_the_identifier(sim_api, identifier, code):
    status = sim_api.error("rewards_participants/show", rewards_participant_identifier=identifier)
    assert status["code"] == code
    if code == "MANDATORY_PARAMETER_MISSING":
        assert "pass_code" in status["message"] or "rewards_participant" in status["message"]


def test_show_participant_fields_set(sim_api):
    data = sim_api.ok(
        "rewards_participants/show",
        rewards_participant_identifier={"number": "RP0001"},
        fields_set="number, wallet,unknown_field",
    )
    assert set(data) == {"number", "wallet"}
    assert data["wallet"]["balance"] == 20


# ---- preview ---------------------------------------------------------------------


def preview(api, body):
    return api.ok("customer_events/purchases/preview", **body)


def test_preview_standard_purchase_maths(simulator, sim_api, purchase_body):
    data = preview(sim_api, purchase_body())
    assert data == {
        "total_award_amount": 15,  # 5% of 100 + 2 (≥ 50) + 10% of coffee 20 + 20% of 30
        "total_instant_spend_amount": 6,
        "total_automatic_spend_amount": 0,
        "total_additional_spend_amount": 20,  # the wallet, not this purchase's awards
        "minimum_spend_amount_per_transaction": 1,
        "maximum_spend_amount_per_transaction": 50,
        "reduction_method": "FRONT_END_REDUCTION",
        "rewards_participant_id": ALICE_ID,
        "rewards_participant_name": "Alice Adams",
        "wallet_balance": 20,
        "allow_spending": True,
    }
    assert simulator.purchases() == []
    assert simulator.wallet_balance("RP0001") == Decimal("20.00")


def test_preview_unit_restricted_offer_and_back_end_unit(sim_api, purchase_body):
    data = preview(sim_api, purchase_body(unit="SHOP2"))
    assert data["total_award_amount"] == 13  # no threshold award outside Test Shop
    assert data["reduction_method"] == "BACK_END_REDUCTION"
    assert data["minimum_spend_amount_per_transaction"] == 2
    assert data["maximum_spend_amount_per_transaction"] == 40


@pytest.mark.parametrize(
    "total, award",
    [
        (49.99, 2.5),  # 5% = 2.4995, rounded half-up; below the 50.00 threshold
        (50, 4.5),  # 2.50 + the fixed 2.00 from 50.00 on
        (10.1, 0.51),  # 0.505 rounded half-up
    ],
)
def test_preview_percentage_and_threshold_awards(sim_api, purchase_body, total, award):
    data = preview(sim_api, purchase_body(lines=None, total=total))
    assert data["total_award_amount"] == award
    assert data["total_instant_spend_amount"] == 0


def test_preview_product_code_award(sim_api, purchase_body):
    coffee_only = purchase_body(lines=[("COFFEE", "8.00", "2.00", "10.00")])
    assert preview(sim_api, coffee_only)["total_award_amount"] == 1.5  # 0.50 + 1.00
    by_alternative_code = purchase_body(lines=None)
    by_alternative_code["products_set"] = [
        {
            "product_identifier": {"alternative_code": "P-COFFEE"},
            "net_amount": 10,
            "vat_amount": 0,
            "total_amount": 10,
        }
    ]
    assert preview(sim_api, by_alternative_code)["total_award_amount"] == 1.5


def test_preview_automatic_spend(sim_api, purchase_body):
    data = preview(sim_api, purchase_body(participant="RP0002"))
    assert data["total_automatic_spend_amount"] == 10  # capped by maximum_spend_amount
    assert data["total_additional_spend_amount"] == 20  # 30 in wallet - 10 automatic
    small = preview(sim_api, purchase_body(participant="RP0002", lines=None, total=5))
    assert small["total_automatic_spend_amount"] == 5  # capped by the purchase total
    assert small["total_additional_spend_amount"] == 0


def test_preview_automatic_spend_needs_minimum_wallet_and_merchant(
    simulator_factory, sim_api_for, purchase_body
):
    scenario = load_scenario("test")
    bob = scenario["participants"][1]
    bob["wallet"]["balance"] = 4.99  # below minimum_wallet_balance 5
    api = sim_api_for(simulator_factory(scenario))
    assert preview(api, purchase_body(participant="RP0002"))["total_automatic_spend_amount"] == 0
    scenario = load_scenario("test")
    scenario["units"][0]["allow_automatic_spend"] = False
    api = sim_api_for(simulator_factory(scenario))
    assert preview(api, purchase_body(participant="RP0002"))["total_automatic_spend_amount"] == 0
    scenario = load_scenario("test")
    scenario["participants"][1]["auto_spend_authorisation"]["minimum_spend_amount"] = 8
    api = sim_api_for(simulator_factory(scenario))
    tiny = purchase_body(participant="RP0002", lines=None, total=5)
    assert preview(api, tiny)["total_automatic_spend_amount"] == 0  # 5 < minimum 8


def test_preview_when_spending_is_not_allowed(sim_api, purchase_body):
    blocked = preview(sim_api, purchase_body(participant="RP0003"))
    assert blocked["allow_spending"] is False
    assert blocked["total_award_amount"] == 15  # awards still come
    assert blocked["total_instant_spend_amount"] == 0
    assert blocked["total_additional_spend_amount"] == 0
    terminated = preview(sim_api, purchase_body(participant="RP0004"))
    assert terminated["allow_spending"] is False
    assert terminated["total_award_amount"] == 0
    assert terminated["total_additional_spend_amount"] == 0


def test_preview_additional_spend_capped_by_maximum_per_transaction(
    simulator_factory, sim_api_for, purchase_body
):
    scenario = load_scenario("test")
    scenario["participants"][0]["wallet"]["balance"] = 500
    api = sim_api_for(simulator_factory(scenario))
    assert preview(api, purchase_body())["total_additional_spend_amount"] == 50


@pytest.mark.parametrize(
    "identity",
    [
        {"accounts_receivable_identifier": {"number": "ACR0001"}},
        {"accounts_receivable_identifier": {"id": "50000000000000000000000000000001"}},
        {"accounts_receivable_identifier": {"name": "ACR0001 Alice Adams"}},
        {
            "accounts_receivable_identifier": {
                "access_token_identifier": {"authentication_code": "+35799000001"}
            }
        },
        {
            "rewards_participant_identifier": {
                "access_token_identifier": {"authentication_code": "APP-ALICE-0001"}
            }
        },
    ],
)
def test_preview_identifies_the_customer_every_way(sim_api, purchase_body, identity):
    body = purchase_body(reference=None, performed_on=None)
    del body["rewards_participant_identifier"]
    body.update(identity)
    data = preview(sim_api, body)
    assert data["rewards_participant_id"] == ALICE_ID
    assert data["wallet_balance"] == 20


def test_preview_alternate_field_style(simulator, sim_api, purchase_body):
    simulator.field_style = "alternate"
    data = preview(sim_api, purchase_body())
    assert data["total_awarded_amount"] == 15
    assert "total_award_amount" not in data


# ---- purchases/create ------------------------------------------------------------


def test_create_purchase_books_awards_and_instant_spend(simulator, sim_api, purchase_body):
    data = create(
        sim_api,
        purchase_body(
            external_system="ODOO_POS",
            external_system_reference_number="Order 0001",
            description="Till 1",
            classification_identifier={"alternative_code": "POS"},
        ),
    )
    assert data["number"] == "CE000001"
    assert len(data["id"]) == 32
    assert data["type"] == "PURCHASE"
    assert data["life_cycle_state"] == "POSTED"
    assert data["performed_on"] == "2024-05-02T10:15:00"
    assert data["reference_number"] == "R-1"
    assert data["external_system"] == "ODOO_POS"
    assert data["external_system_reference_number"] == "Order 0001"
    assert data["classification"]["name"] == "POS Sale"
    assert (data["total_amount"], data["net_amount"], data["vat_amount"]) == (
        100,
        85,
        15,
    )
    assert data["total_awarded_amount"] == 15
    assert data["total_instant_spend_amount"] == 6
    assert data["total_automatic_spend_amount"] == 0
    assert data["total_additional_spend_amount"] == 0
    assert data["total_spend_amount"] == 6
    assert data["accounts_receivable"]["number"] == "ACR0001"
    assert data["performed_by_unit"] == {
        "id": SHOP1_ID,
        "name": "Test Shop",
        "alternative_code": "SHOP1",
    }
    awards = {a["reward_offer"]["name"]: a["amount"] for a in data["award_reward_transactions_set"]}
    assert awards == {
        "5% on every purchase": 5,
        "2.00 on 50.00 or more at Test Shop": 2,
        "10% on coffee": 2,
        "20% on sandwiches, spent instantly": 6,
    }
    assert {a["life_cycle_state"] for a in data["award_reward_transactions_set"]} == {"POSTED"}
    instant = data["instant_spend_request"]
    assert instant["instant_spend"] is True and instant["automatic_spend"] is False
    assert instant["type"] == "SPEND REQUEST"
    assert instant["spend_reward_transaction"]["amount"] == 6
    assert data["automatic_spend_request"] is None
    muffin = data["products_set"][2]
    assert muffin["product"]["code"] == "DEFAULT"
    assert muffin["intended_product_identifier"] == "code"
    assert muffin["intended_product_value"] == "MUFFIN"
    assert "intended_product_identifier" not in data["products_set"][0]
    assert data["log_information"]["created_date"]
    assert simulator.wallet_balance("RP0001") == Decimal("29.00")  # 20 + 15 - 6
    assert [p["number"] for p in simulator.purchases(reference_number="R-1")] == ["CE000001"]


def test_create_purchase_with_automatic_spend(simulator, sim_api, purchase_body):
    data = create(sim_api, purchase_body(participant="RP0002"))
    automatic = data["automatic_spend_request"]
    assert automatic["automatic_spend"] is True
    assert automatic["spend_reward_transaction"]["amount"] == 10
    assert data["total_spend_amount"] == 16
    assert simulator.wallet_balance("RP0002") == Decimal("29.00")  # 30 + 15 - 6 - 10
    kinds = [(r["instant_spend"], r["automatic_spend"]) for r in simulator.spend_requests()]
    assert kinds == [(True, False), (False, True)]


def test_create_purchase_with_total_amount_only(simulator, sim_api, purchase_body):
    data = create(sim_api, purchase_body(lines=None, total=40, vat_amount=6.4))
    assert (data["total_amount"], data["net_amount"], data["vat_amount"]) == (
        40,
        33.6,
        6.4,
    )
    assert data["products_set"] == []
    assert data["total_awarded_amount"] == 2
    assert simulator.wallet_balance("RP0001") == Decimal("22.00")


def test_create_purchase_refused_for_terminated_participant(simulator, sim_api, purchase_body):
    status = sim_api.error(
        "customer_events/purchases/create", **purchase_body(participant="RP0004")
    )
    assert status["code"] == "PARTICIPANT_NOT_EFFECTIVE"
    assert simulator.purchases() == []
    assert simulator.wallet_balance("RP0004") == Decimal("8.00")


def test_duplicate_reference_number_is_refused_per_unit(simulator, sim_api, purchase_body):
    first = create(sim_api, purchase_body(reference="DUP"))
    status = sim_api.error("customer_events/purchases/create", **purchase_body(reference="DUP"))
    assert status["code"] == "DUPLICATE_REFERENCE_NUMBER"
    assert simulator.wallet_balance("RP0001") == Decimal("29.00")
    other_unit = create(sim_api, purchase_body(reference="DUP", unit="SHOP2"))
    assert other_unit["number"] != first["number"]
    sim_api.ok(
        "customer_events/purchases/cancel",
        customer_event_identifier={"id": first["id"]},
    )
    again = sim_api.error("customer_events/purchases/create", **purchase_body(reference="DUP"))
    assert again["code"] == "DUPLICATE_REFERENCE_NUMBER"  # cancelled ones count too
    assert len(simulator.purchases(reference_number="DUP")) == 2


def test_duplicate_reference_numbers_can_be_allowed(simulator_factory, sim_api_for, purchase_body):
    scenario = load_scenario("test")
    scenario["settings"]["reject_duplicate_reference_numbers"] = False
    sim = simulator_factory(scenario)
    api = sim_api_for(sim)
    create(api, purchase_body(reference="SAME"))
    create(api, purchase_body(reference="SAME"))
    assert len(sim.purchases(reference_number="SAME", state="POSTED")) == 2


def _without(body, key):
    body = copy.deepcopy(body)
    del body[key]
    return body


INVALID_PURCHASES = [
    (
        lambda b: _without(b, "performed_on"),
        "MANDATORY_PARAMETER_MISSING",
        "performed_on",
    ),
    (
        lambda b: _without(b, "reference_number"),
        "MANDATORY_PARAMETER_MISSING",
        "reference_number",
    ),
    (
        lambda b: _without(b, "performed_by_unit_identifier"),
        "MANDATORY_PARAMETER_MISSING",
        "performed_by_unit_identifier",
    ),
    (
        lambda b: _without(b, "rewards_participant_identifier"),
        "MANDATORY_PARAMETER_MISSING",
        "accounts_receivable_identifier",
    ),
    (
        lambda b: _without(b, "products_set"),
        "MANDATORY_PARAMETER_MISSING",
        "total_amount",
    ),
    (
        lambda b: {**b, "accounts_receivable_identifier": {"number": "ACR0001"}},
        "INVALID_PARAMETER",
        "",
    ),
    (lambda b: {**b, "total_amount": "100"}, "INVALID_PARAMETER", "total_amount"),
    (lambda b: {**b, "total_amount": -100}, "INVALID_PARAMETER", "total_amount"),
    (lambda b: {**b, "total_amount": True}, "INVALID_PARAMETER", "total_amount"),
    (lambda b: {**b, "total_amount": 99.5}, "INVALID_PARAMETER", "total_amount"),
    (
        lambda b: {**b, "net_amount": 80, "vat_amount": 15},
        "INVALID_PARAMETER",
        "total_amount",
    ),
    (
        lambda b: {**b, "performed_on": "02/05/2024"},
        "INVALID_PARAMETER",
        "performed_on",
    ),
    (lambda b: {**b, "reference_number": 17}, "INVALID_PARAMETER", "reference_number"),
    (lambda b: {**b, "products_set": []}, "INVALID_PARAMETER", "products_set"),
    (lambda b: {**b, "products_set": {"a": 1}}, "INVALID_PARAMETER", "products_set"),
    (
        lambda b: {**b, "performed_by_unit_identifier": {"alternative_code": "NOPE"}},
        "NOT_FOUND",
        "",
    ),
    (
        lambda b: {
            **b,
            "performed_by_unit_identifier": {"id": SHOP1_ID, "name": "Test Shop"},
        },
        "INVALID_PARAMETER",
        "",
    ),
    (
        lambda b: {**b, "rewards_participant_identifier": {"number": "RP0404"}},
        "NOT_FOUND",
        "",
    ),
    (
        lambda b: {**b, "classification_identifier": {"name": "No such class"}},
        "NOT_FOUND",
        "",
    ),
]


def _line_change(index, **changes):
    def apply(body):
        body = copy.deepcopy(body)
        body["products_set"][index].update(changes)
        return {key: value for key, value in body.items()}

    return apply


def _line_drop(index, key):
    def apply(body):
        body = copy.deepcopy(body)
        del body["products_set"][index][key]
        return body

    return apply


INVALID_PURCHASES += [
    (
        _line_drop(0, "vat_amount"),
        "MANDATORY_PARAMETER_MISSING",
        "products_set[0].vat_amount",
    ),
    (_line_change(1, net_amount=20), "INVALID_PARAMETER", "products_set[1]"),
    (_line_change(0, quantity=0), "INVALID_PARAMETER", "quantity"),
    (_line_change(0, total_amount="20"), "INVALID_PARAMETER", "total_amount"),
    (_line_change(0, product_identifier={}), "INVALID_PARAMETER", "product_identifier"),
]


@pytest.mark.parametrize("endpoint", ["create", "preview"])
@pytest.mark.parametrize("mutate, code, named", INVALID_PURCHASES)
def test_purchase_validation_errors_change_nothing(
    simulator, sim_api, purchase_body, endpoint, mutate, code, named
):
    body = mutate(purchase_body())
    if (
        endpoint == "preview"
        and code == "MANDATORY_PARAMETER_MISSING"
        and named
        in (
            "performed_on",
            "reference_number",
        )
    ):
        assert sim_api.ok("customer_events/purchases/preview", **body)  # optional there
        return
    status = sim_api.error(f"customer_events/purchases/{endpoint}", **body)
    assert status["code"] == code
    assert named in status["message"] + status["description"]
    assert simulator.purchases() == []
    assert simulator.wallet_balance("RP0001") == Decimal("20.00")


def test_unknown_product_without_default_product_is_not_found(
    simulator_factory, sim_api_for, purchase_body
):
    scenario = load_scenario("test")
    scenario["settings"]["default_product"] = None
    sim = simulator_factory(scenario)
    status = sim_api_for(sim).error("customer_events/purchases/create", **purchase_body())
    assert status["code"] == "NOT_FOUND"
    assert "MUFFIN" in status["description"]
    assert sim.purchases() == []


# ---- spend requests --------------------------------------------------------------


def test_spend_request_spends_what_is_asked(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body())
    envelope = spend(sim_api, purchase["number"], 12.5, external_system="ODOO_POS", description="x")
    data = envelope["data"]
    assert envelope["status"]["code"] == "OK"
    assert data["type"] == "SPEND REQUEST"
    assert data["life_cycle_state"] == "POSTED"
    assert data["spend_amount"] == 12.5
    assert spent_amount(data) == 12.5
    assert data["instant_spend"] is False and data["automatic_spend"] is False
    assert data["reduction_method"] == "FRONT_END_REDUCTION"
    assert data["purchase_customer_event"] == {
        "id": purchase["id"],
        "number": "CE000001",
    }
    assert data["external_system"] == "ODOO_POS"
    assert simulator.wallet_balance("RP0001") == Decimal("16.50")  # 29 - 12.50
    shown = sim_api.get(
        "customer_events/purchases/show", "customer_event_identifier=number=CE000001"
    )
    assert shown["data"]["total_additional_spend_amount"] == 12.5
    assert shown["data"]["total_spend_amount"] == 18.5  # 6 instant + 12.50
    assert len(simulator.spend_requests(purchase_number="CE000001")) == 2


def test_spend_request_spends_less_than_asked_when_the_wallet_is_short(
    simulator, sim_api, purchase_body
):
    purchase = create(sim_api, purchase_body())
    data = spend(sim_api, purchase["number"], 30)["data"]
    assert data["spend_amount"] == 30
    # the wallet holds 29, of which 9 are this purchase's own unspent awards
    assert spent_amount(data) == 20
    assert simulator.wallet_balance("RP0001") == Decimal("9.00")


def test_spend_request_limited_by_merchant_spend_ratio(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body(unit="SHOP2", lines=None, total=30))
    data = spend(sim_api, purchase["number"], 20, unit="SHOP2")["data"]
    assert spent_amount(data) == 15  # Test Web Shop lets spends cover half the total
    assert data["reduction_method"] == "BACK_END_REDUCTION"
    again = spend(sim_api, purchase["number"], 5, unit="SHOP2")
    assert again["status"]["code"] == "INSUFFICIENT_WALLET_BALANCE"
    assert simulator.wallet_balance("RP0001") == Decimal("6.50")  # 20 + 1.50 - 15


def test_spend_request_without_amount_spends_the_rest_of_the_purchase(
    simulator, sim_api, purchase_body
):
    purchase = create(sim_api, purchase_body(lines=None, total=10))
    data = spend(sim_api, purchase["number"])["data"]
    assert data["spend_amount"] == 10
    assert spent_amount(data) == 10
    assert simulator.wallet_balance("RP0001") == Decimal("10.50")  # 20 + 0.50 - 10
    status = spend(sim_api, purchase["number"])["status"]
    assert status["code"] == "INSUFFICIENT_WALLET_BALANCE"


@pytest.mark.parametrize(
    "amount, code",
    [
        (0.5, "SPEND_LIMIT_VIOLATION"),
        (50.01, "SPEND_LIMIT_VIOLATION"),
        (0, "INVALID_PARAMETER"),
        (-5, "INVALID_PARAMETER"),
        ("5", "INVALID_PARAMETER"),
        (False, "INVALID_PARAMETER"),
    ],
)
def test_spend_request_amount_rules(simulator, sim_api, purchase_body, amount, code):
    purchase = create(sim_api, purchase_body(lines=None, total=200))
    before = simulator.wallet_balance("RP0001")
    status = spend(sim_api, purchase["number"], amount)["status"]
    assert status["code"] == code
    assert simulator.wallet_balance("RP0001") == before
    assert simulator.spend_requests() == []


def test_spend_request_refused_when_spending_blocked(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body(participant="RP0003"))
    status = spend(sim_api, purchase["number"], 5, participant="RP0003")["status"]
    assert status["code"] == "SPENDING_NOT_ALLOWED"
    assert simulator.wallet_balance("RP0003") == Decimal("30.00")  # 15 + 15 awarded


def test_spend_request_refused_when_accounts_receivable_not_active(
    simulator_factory, sim_api_for, purchase_body
):
    scenario = load_scenario("test")
    scenario["participants"][0]["accounts_receivable"]["life_cycle_state"] = "SUSPENDED"
    sim = simulator_factory(scenario)
    api = sim_api_for(sim)
    assert preview(api, purchase_body())["allow_spending"] is False
    purchase = create(api, purchase_body())
    assert spend(api, purchase["number"], 5)["status"]["code"] == "SPENDING_NOT_ALLOWED"


def test_own_awards_are_not_spendable_on_the_same_purchase(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body(participant="RP0005", lines=None, total=10))
    assert purchase["total_awarded_amount"] == 0.5
    status = spend(sim_api, purchase["number"], 1, participant="RP0005")["status"]
    assert status["code"] == "INSUFFICIENT_WALLET_BALANCE"
    assert simulator.wallet_balance("RP0005") == Decimal("0.50")


def test_spend_request_checks_the_purchase(simulator, sim_api, purchase_body):
    alice = create(sim_api, purchase_body(reference="A"))
    bob = create(sim_api, purchase_body(reference="B", participant="RP0002"))
    assert spend(sim_api, bob["number"], 5)["status"]["code"] == "INVALID_PARAMETER"
    assert spend(sim_api, "CE999999", 5)["status"]["code"] == "NOT_FOUND"
    sim_api.ok(
        "customer_events/purchases/cancel",
        customer_event_identifier={"number": alice["number"]},
    )
    assert spend(sim_api, alice["number"], 5)["status"]["code"] == "NOT_POSTED"
    body = {
        "rewards_participant_identifier": {"number": "RP0001"},
        "performed_by_unit_identifier": {"alternative_code": "SHOP1"},
        "performed_on": "2024-05-02T10:16:00",
    }
    status = sim_api.error("customer_events/spend_requests/create", **body)
    assert status["code"] == "MANDATORY_PARAMETER_MISSING"
    assert "purchase_customer_request_identifier" in status["message"]
    status = sim_api.error(
        "customer_events/spend_requests/create",
        **{**body, "purchase_customer_request_identifier": {"reference_number": "A"}},
    )
    assert status["code"] == "INVALID_PARAMETER"


def test_spend_request_refused_for_terminated_participant(
    simulator_factory, sim_api_for, purchase_body
):
    scenario = load_scenario("test")
    sim = simulator_factory(scenario)
    api = sim_api_for(sim)
    purchase = create(api, purchase_body())
    # terminate Alice afterwards, as CRM.COM could between the two calls
    sim.engine.catalogue.participant_by["number"]["RP0001"].life_cycle_state = "TERMINATED"
    assert spend(api, purchase["number"], 5)["status"]["code"] == "PARTICIPANT_NOT_EFFECTIVE"


def test_spend_request_alternate_field_style(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body())
    simulator.field_style = "alternate"
    data = spend(sim_api, purchase["number"], 5)["data"]
    assert data["spend_reward_transaction"]["total_amount"] == 5
    assert "amount" not in data["spend_reward_transaction"]


def test_spend_request_cancel_and_show(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body())
    request = spend(sim_api, purchase["number"], 5)["data"]
    cancelled = sim_api.ok(
        "customer_events/spend_requests/cancel",
        customer_event_identifier={"number": request["number"]},
    )
    assert cancelled["life_cycle_state"] == "CANCELLED"
    assert cancelled["spend_reward_transaction"]["life_cycle_state"] == "CANCELLED"
    assert simulator.wallet_balance("RP0001") == Decimal("29.00")
    again = sim_api.error(
        "customer_events/spend_requests/cancel",
        customer_event_identifier={"id": request["id"]},
    )
    assert again["code"] == "NOT_POSTED"
    shown = sim_api.get(
        "customer_events/purchases/show",
        f"customer_event_identifier=id={purchase['id']}",
    )["data"]
    assert shown["total_additional_spend_amount"] == 0
    assert shown["total_spend_amount"] == 6
    spend_shown = sim_api.get(
        "customer_events/spend_requests/show",
        f"customer_event_identifier=number={request['number']}",
    )["data"]
    assert spend_shown["life_cycle_state"] == "CANCELLED"


# ---- cancel ----------------------------------------------------------------------


def test_cancel_restores_the_wallet_exactly(simulator, sim_api, purchase_body):
    purchase = create(sim_api, purchase_body(participant="RP0002"))
    spend(sim_api, purchase["number"], 7.25, participant="RP0002")
    assert simulator.wallet_balance("RP0002") == Decimal("21.75")
    data = sim_api.ok(
        "customer_events/purchases/cancel",
        customer_event_identifier={"number": purchase["number"]},
    )
    assert data["life_cycle_state"] == "CANCELLED"
    assert {a["life_cycle_state"] for a in data["award_reward_transactions_set"]} == {"CANCELLED"}
    assert data["instant_spend_request"]["life_cycle_state"] == "CANCELLED"
    assert (
        data["automatic_spend_request"]["spend_reward_transaction"]["life_cycle_state"]
        == "CANCELLED"
    )
    assert data["total_spend_amount"] == 0
    assert data["total_awarded_amount"] == 0
    assert {r["life_cycle_state"] for r in simulator.spend_requests()} == {"CANCELLED"}
    assert simulator.wallet_balance("RP0002") == Decimal("30.00")
    status = sim_api.error(
        "customer_events/purchases/cancel",
        customer_event_identifier={"number": purchase["number"]},
    )
    assert status["code"] == "NOT_POSTED"
    assert simulator.wallet_balance("RP0002") == Decimal("30.00")


def test_cancel_can_leave_a_negative_wallet(simulator, sim_api, purchase_body):
    first = create(sim_api, purchase_body(reference="P1"))  # wallet 29
    second = create(sim_api, purchase_body(reference="P2", lines=None, total=50))  # 33.50
    assert spent_amount(spend(sim_api, second["number"], 29)["data"]) == 29  # wallet 4.50
    sim_api.ok(
        "customer_events/purchases/cancel",
        customer_event_identifier={"id": first["id"]},
    )
    assert simulator.wallet_balance("RP0001") == Decimal("-4.50")  # 4.50 - 15 + 6


@pytest.mark.parametrize(
    "identifier, code",
    [
        ({"number": "CE404"}, "NOT_FOUND"),
        ({"reference_number": "R-1"}, "INVALID_PARAMETER"),
        (None, "MANDATORY_PARAMETER_MISSING"),
    ],
)
def test_cancel_validation(sim_api, purchase_body, identifier, code):
    create(sim_api, purchase_body())
    status = sim_api.error("customer_events/purchases/cancel", customer_event_identifier=identifier)
    assert status["code"] == code


def test_cancel_fields_set(sim_api, purchase_body):
    purchase = create(sim_api, purchase_body())
    data = sim_api.ok(
        "customer_events/purchases/cancel",
        customer_event_identifier={"number": purchase["number"]},
        fields_set="life_cycle_state",
    )
    assert data == {"life_cycle_state": "CANCELLED"}


# ---- purchases/show (GET) --------------------------------------------------------


def test_show_purchase_with_flattened_identifiers(sim_api, purchase_body):
    purchase = create(sim_api, purchase_body())
    by_number = sim_api.get(
        "customer_events/purchases/show", "customer_event_identifier=number=CE000001"
    )
    assert by_number["data"] == purchase
    by_id = sim_api.get(
        "customer_events/purchases/show",
        f"customer_event_identifier=id={purchase['id']}&fields_set=number,total_spend_amount",
    )
    assert by_id["data"] == {"number": "CE000001", "total_spend_amount": 6}


@pytest.mark.parametrize(
    "query, code",
    [
        ("customer_event_identifier=number=CE404", "NOT_FOUND"),
        ("customer_event_identifier=CE000001", "INVALID_PARAMETER"),
        ("customer_event_identifier=code=CE000001", "INVALID_PARAMETER"),
        (
            "customer_event_identifier=number=CE000001&customer_event_identifier=id=X",
            "INVALID_PARAMETER",
        ),
        ("", "MANDATORY_PARAMETER_MISSING"),
    ],
)
def test_show_purchase_validation(sim_api, purchase_body, query, code):
    create(sim_api, purchase_body())
    envelope = sim_api.get("customer_events/purchases/show", query)
    assert envelope["status"]["code"] == code
    assert envelope["data"] is None


def test_show_purchase_needs_a_token(simulator, sim_api, purchase_body):
    create(sim_api, purchase_body())
    url = simulator.base_url + "/crmapi/rest/v2/customer_events/purchases/show"
    envelope = requests.get(url + "?customer_event_identifier=number=CE000001", timeout=5).json()
    assert envelope["status"]["code"] == "INVALID_TOKEN"


# ---- purchases/list --------------------------------------------------------------


class SteppingClock:
    """A clock that moves one minute on every call, from 2024-05-02 09:00:00."""

    def __init__(self):
        self.now = datetime(2024, 5, 2, 9, 0, 0)

    def __call__(self):
        self.now += timedelta(minutes=1)
        return self.now


def _created(purchase):
    return purchase["log_information"]["created_date"]


def test_list_purchases_pagination_and_dates(simulator_factory, sim_api_for, purchase_body):
    sim = simulator_factory(None, clock=SteppingClock())
    api = sim_api_for(sim)
    made = [create(api, purchase_body(reference=f"L{n}", lines=None, total=10)) for n in range(5)]
    create(api, purchase_body(reference="BOB", participant="RP0002", lines=None, total=10))
    listed = api.ok(
        "customer_events/purchases/list",
        rewards_participant_identifier={"number": "RP0001"},
    )
    assert [p["reference_number"] for p in listed] == ["L0", "L1", "L2", "L3", "L4"]
    page = api.ok(
        "customer_events/purchases/list",
        accounts_receivable_identifier={"number": "ACR0001"},
        number_of_results=2,
        offset=2,
        fields_set="reference_number",
    )
    assert page == [{"reference_number": "L2"}, {"reference_number": "L3"}]
    window = api.ok(
        "customer_events/purchases/list",
        rewards_participant_identifier={"number": "RP0001"},
        submitted_after_date=_created(made[1]),
        submitted_before_date=_created(made[3]),
    )
    assert [p["reference_number"] for p in window] == ["L1", "L2", "L3"]
    assert (
        api.ok(
            "customer_events/purchases/list",
            rewards_participant_identifier={"number": "RP0001"},
            submitted_after_date="2024-05-03",
        )
        == []
    )
    assert (
        len(
            api.ok(
                "customer_events/purchases/list",
                rewards_participant_identifier={"number": "RP0001"},
                offset=4,
            )
        )
        == 1
    )


@pytest.mark.parametrize(
    "params, code",
    [
        ({}, "MANDATORY_PARAMETER_MISSING"),
        (
            {
                "rewards_participant_identifier": {"number": "RP0001"},
                "accounts_receivable_identifier": {"number": "ACR0001"},
            },
            "INVALID_PARAMETER",
        ),
        ({"rewards_participant_identifier": {"number": "RP0404"}}, "NOT_FOUND"),
        (
            {
                "rewards_participant_identifier": {"number": "RP0001"},
                "number_of_results": 501,
            },
            "INVALID_PARAMETER",
        ),
        (
            {"rewards_participant_identifier": {"number": "RP0001"}, "offset": -1},
            "INVALID_PARAMETER",
        ),
        (
            {
                "rewards_participant_identifier": {"number": "RP0001"},
                "number_of_results": "5",
            },
            "INVALID_PARAMETER",
        ),
        (
            {
                "rewards_participant_identifier": {"number": "RP0001"},
                "submitted_after_date": "yesterday",
            },
            "INVALID_PARAMETER",
        ),
    ],
)
def test_list_purchases_validation(sim_api, params, code):
    assert sim_api.error("customer_events/purchases/list", **params)["code"] == code


def test_list_purchases_default_page_is_fifty(simulator, sim_api, purchase_body):
    for n in range(52):
        create(sim_api, purchase_body(reference=f"N{n}", lines=None, total=1))
    listed = sim_api.ok(
        "customer_events/purchases/list",
        rewards_participant_identifier={"number": "RP0001"},
    )
    assert len(listed) == 50
    assert listed[0]["reference_number"] == "N0"


# ---- fields_set, concurrency -----------------------------------------------------


def test_create_fields_set_keeps_only_named_top_level_fields(sim_api, purchase_body):
    data = create(sim_api, purchase_body(fields_set="number,total_awarded_amount,bogus"))
    assert data == {"number": "CE000001", "total_awarded_amount": 15}
    status = sim_api.error(
        "customer_events/purchases/create",
        **purchase_body(reference="R-2", fields_set=["a"]),
    )
    assert status["code"] == "INVALID_PARAMETER"


def test_parallel_purchases_get_unique_numbers_and_exact_wallets(simulator, sim_api, purchase_body):
    results = []
    errors = []

    def submit(thread_index):
        try:
            session = requests.Session()
            for n in range(5):
                body = purchase_body(reference=f"T{thread_index}-{n}", lines=None, total=10)
                body["token"] = sim_api.token
                response = session.post(
                    sim_api.url("customer_events/purchases/create"),
                    json=body,
                    timeout=5,
                )
                results.append(response.json()["data"]["number"])
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 40
    assert len(set(results)) == 40
    assert simulator.wallet_balance("RP0001") == Decimal("40.00")  # 20 + 40 * 0.50
    assert simulator.call_count("customer_events/purchases/create") == 40
