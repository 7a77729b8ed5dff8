"""Every CRM.COM call of the client, over real HTTP against the simulator."""

import datetime
from decimal import Decimal

import pytest

from client_scenario import (
    ALICE,
    BACK_END_UNIT,
    BLOCKED,
    CARD_TOKEN,
    EMAIL_IDENTIFIER,
    EMAIL_PASS_CODE,
    FRONT_END_UNIT,
    PHONE_TOKEN,
    PRODUCT_CODE,
    TERMINATED,
    WEB_API_KEY,
)
from crmcom import (
    CrmcomApiError,
    CrmcomClient,
    Purchase,
    PurchaseLine,
    TokenCache,
    accounts_receivable_identifier,
    product_identifier,
    read_participant,
    read_preview,
    read_purchase,
    read_spend_request,
    rewards_participant_identifier,
    unit_identifier,
)
from crmcom_simulator import load_scenario

WHEN = datetime.datetime(2026, 11, 26, 10, 0, 0)


@pytest.fixture
def client(simulator):
    return CrmcomClient(
        simulator.base_url, web_api_key=WEB_API_KEY, token_cache=TokenCache(), timeout=(2, 5)
    )


def purchase_for(participant, reference, amount="20.00", unit=FRONT_END_UNIT, code=PRODUCT_CODE):
    amount = Decimal(amount)
    net = (amount / Decimal("1.19")).quantize(Decimal("0.01"))
    return Purchase(
        customer=accounts_receivable_identifier(number=participant["account_number"]),
        unit=unit_identifier(alternative_code=unit),
        performed_on=WHEN,
        reference_number=reference,
        lines=[PurchaseLine(product_identifier(code=code), net, amount - net, amount)],
        external_system="ODOO-TEST",
    )


@pytest.mark.parametrize(
    "identifier",
    [
        {"number": ALICE["number"]},
        {"access_token": CARD_TOKEN},
        {"access_token": PHONE_TOKEN},
        {"access_token": {"identifier": EMAIL_IDENTIFIER, "pass_code": EMAIL_PASS_CODE}},
    ],
    ids=["number", "card", "phone", "identifier+pass_code"],
)
def test_show_rewards_participant_by_each_identifier(client, identifier):
    participant = read_participant(
        client.show_rewards_participant(rewards_participant_identifier(**identifier))
    )
    assert participant.number == ALICE["number"]
    assert participant.account_number == ALICE["account_number"]
    assert participant.name == ALICE["name"]
    assert participant.wallet_balance == ALICE["balance"]
    assert participant.is_effective
    # by id, now that we know it
    again = client.show_rewards_participant(rewards_participant_identifier(id=participant.id))
    assert again["number"] == ALICE["number"]


def test_show_rewards_participant_unknown_and_terminated(client):
    with pytest.raises(CrmcomApiError) as caught:
        client.show_rewards_participant(rewards_participant_identifier(access_token="NO-SUCH-CARD"))
    assert caught.value.code == "NOT_FOUND"
    assert not caught.value.maybe_applied
    terminated = read_participant(
        client.show_rewards_participant(rewards_participant_identifier(number=TERMINATED["number"]))
    )
    assert terminated.life_cycle_state == "TERMINATED"
    assert not terminated.is_effective


def test_fields_set_limits_the_answer(client):
    data = client.show_rewards_participant(
        rewards_participant_identifier(number=ALICE["number"]), fields_set=["id", "number"]
    )
    assert set(data) == {"id", "number"}


def test_preview_changes_nothing_and_reads_in_both_field_styles(client, simulator):
    purchase = purchase_for(ALICE, "PREVIEW-1")
    preview = read_preview(client.preview_purchase(purchase))
    assert preview.front_end
    assert preview.award_amount > 0
    assert preview.additional_spend_amount > 0
    assert preview.minimum_spend_amount is not None
    assert preview.maximum_spend_amount is not None
    assert preview.wallet_balance == ALICE["balance"]
    assert simulator.purchases() == []
    assert simulator.wallet_balance(ALICE["number"]) == ALICE["balance"]
    simulator.field_style = "alternate"
    assert read_preview(client.preview_purchase(purchase)).award_amount == preview.award_amount


def test_preview_back_end_merchant(client):
    preview = read_preview(client.preview_purchase(purchase_for(ALICE, "P-2", unit=BACK_END_UNIT)))
    assert preview.reduction_method == "BACK_END_REDUCTION"


def test_create_purchase_awards_and_refuses_a_duplicate_reference(client, simulator):
    purchase = purchase_for(ALICE, "ORDER-1")
    result = read_purchase(client.create_purchase(purchase))
    assert result.is_posted and result.number and result.id
    assert result.reference_number == "ORDER-1"
    assert result.award_amount > 0
    assert simulator.wallet_balance(ALICE["number"]) == ALICE["balance"] + result.award_amount
    [stored] = simulator.purchases(reference_number="ORDER-1")
    assert Decimal(str(stored["total_amount"])) == Decimal("20.00")
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(purchase)
    assert caught.value.code == "DUPLICATE_REFERENCE_NUMBER"
    assert len(simulator.purchases(reference_number="ORDER-1")) == 1


def test_create_purchase_refuses_unknown_product_and_terminated_participant(simulator_factory):
    scenario = load_scenario("test")
    scenario["settings"]["default_product"] = None
    simulator = simulator_factory(scenario)
    client = CrmcomClient(simulator.base_url, web_api_key=WEB_API_KEY, token_cache=TokenCache())
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(purchase_for(ALICE, "ORDER-X", code="NO-SUCH-PRODUCT"))
    assert caught.value.code == "NOT_FOUND"
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(purchase_for(TERMINATED, "ORDER-T"))
    assert caught.value.code == "PARTICIPANT_NOT_EFFECTIVE"
    assert simulator.purchases() == []


@pytest.mark.parametrize("field_style", ["docs", "alternate"])
def test_spend_request_returns_what_was_really_spent(client, simulator, field_style):
    simulator.field_style = field_style
    purchase = read_purchase(client.create_purchase(purchase_for(ALICE, "ORDER-S")))
    balance = simulator.wallet_balance(ALICE["number"])
    spend = read_spend_request(
        client.create_spend_request(
            customer=accounts_receivable_identifier(number=ALICE["account_number"]),
            unit=unit_identifier(alternative_code=FRONT_END_UNIT),
            performed_on=WHEN,
            purchase={"number": purchase.number},
            spend_amount=Decimal("2.50"),
        )
    )
    assert spend.spent_amount == Decimal("2.50")
    assert spend.reduction_method == "FRONT_END_REDUCTION"
    assert simulator.wallet_balance(ALICE["number"]) == balance - Decimal("2.50")
    shown = read_purchase(client.show_purchase({"number": purchase.number}))
    assert shown.additional_spend_amount == Decimal("2.50")


def test_spend_more_than_the_purchase_is_spent_partially(client, simulator):
    purchase = read_purchase(client.create_purchase(purchase_for(ALICE, "ORDER-P", amount="3.00")))
    spend = read_spend_request(
        client.create_spend_request(
            customer=accounts_receivable_identifier(number=ALICE["account_number"]),
            unit=unit_identifier(alternative_code=FRONT_END_UNIT),
            performed_on=WHEN,
            purchase={"id": purchase.id},
            spend_amount=Decimal("5.00"),
        )
    )
    assert spend.requested_amount == Decimal("5.00")
    assert spend.spent_amount == Decimal("3.00")


def test_spend_outside_the_limits_or_when_blocked_is_refused(client, simulator):
    purchase = read_purchase(client.create_purchase(purchase_for(ALICE, "ORDER-L", amount="50.00")))
    preview = read_preview(client.preview_purchase(purchase_for(ALICE, "ORDER-L2", amount="50.00")))
    balance = simulator.wallet_balance(ALICE["number"])
    spend = {
        "customer": accounts_receivable_identifier(number=ALICE["account_number"]),
        "unit": unit_identifier(alternative_code=FRONT_END_UNIT),
        "performed_on": WHEN,
        "purchase": {"number": purchase.number},
    }
    too_little = preview.minimum_spend_amount - Decimal("0.01")
    if too_little > 0:
        with pytest.raises(CrmcomApiError) as caught:
            client.create_spend_request(spend_amount=too_little, **spend)
        assert caught.value.code == "SPEND_LIMIT_VIOLATION"
    with pytest.raises(CrmcomApiError) as caught:
        client.create_spend_request(spend_amount=preview.maximum_spend_amount + 1, **spend)
    assert caught.value.code == "SPEND_LIMIT_VIOLATION"
    assert simulator.wallet_balance(ALICE["number"]) == balance
    blocked = read_purchase(client.create_purchase(purchase_for(BLOCKED, "ORDER-B")))
    with pytest.raises(CrmcomApiError) as caught:
        client.create_spend_request(
            customer=accounts_receivable_identifier(number=BLOCKED["account_number"]),
            unit=spend["unit"],
            performed_on=WHEN,
            purchase={"number": blocked.number},
            spend_amount=1,
        )
    assert caught.value.code == "SPENDING_NOT_ALLOWED"


def test_cancel_restores_the_wallet_and_twice_is_an_error(client, simulator):
    before = simulator.wallet_balance(ALICE["number"])
    purchase = read_purchase(client.create_purchase(purchase_for(ALICE, "ORDER-C")))
    client.create_spend_request(
        customer=accounts_receivable_identifier(number=ALICE["account_number"]),
        unit=unit_identifier(alternative_code=FRONT_END_UNIT),
        performed_on=WHEN,
        purchase={"number": purchase.number},
        spend_amount=2,
    )
    assert simulator.wallet_balance(ALICE["number"]) != before
    cancelled = read_purchase(client.cancel_purchase({"number": purchase.number}))
    assert cancelled.life_cycle_state == "CANCELLED"
    assert simulator.wallet_balance(ALICE["number"]) == before
    with pytest.raises(CrmcomApiError) as caught:
        client.cancel_purchase({"id": purchase.id})
    assert caught.value.code == "NOT_POSTED"
    assert simulator.wallet_balance(ALICE["number"]) == before


def test_show_purchase_by_id_and_number_over_get(client, simulator):
    created = read_purchase(client.create_purchase(purchase_for(ALICE, "ORDER-G")))
    by_number = client.show_purchase({"number": created.number}, fields_set="id,reference_number")
    assert by_number == {"id": created.id, "reference_number": "ORDER-G"}
    assert read_purchase(client.show_purchase({"id": created.id})).number == created.number
    assert simulator.calls[-1]["method"] == "GET"
    with pytest.raises(CrmcomApiError) as caught:
        client.show_purchase({"number": "CE-NOPE"})
    assert caught.value.code == "NOT_FOUND"


def test_list_pages_and_find_purchase_by_reference(client, simulator):
    for index in range(7):
        client.create_purchase(purchase_for(ALICE, f"ORDER-L{index}", amount="5.00"))
    customer = accounts_receivable_identifier(number=ALICE["account_number"])
    first = client.list_purchases(customer, number_of_results=3, offset=0)
    second = client.list_purchases(customer, number_of_results=3, offset=3)
    assert len(first) == len(second) == 3
    assert {p["id"] for p in first}.isdisjoint({p["id"] for p in second})
    every = list(client.iter_purchases(customer, page_size=3))
    assert [p["reference_number"] for p in every] == [f"ORDER-L{i}" for i in range(7)]
    calls_before = simulator.call_count("customer_events/purchases/list")
    found = client.find_purchase(customer, "ORDER-L6", page_size=3)
    assert found["reference_number"] == "ORDER-L6"
    assert simulator.call_count("customer_events/purchases/list") - calls_before == 3
    assert client.find_purchase(customer, "ORDER-NONE", page_size=3) is None
    future = datetime.datetime.now() + datetime.timedelta(days=1)
    assert client.list_purchases(customer, submitted_after=future) == []
