"""Request builders and answer readers of the CRM.COM client (no network)."""

import datetime
from decimal import Decimal

import pytest

from crmcom import (
    CrmcomAnswerError,
    Purchase,
    PurchaseLine,
    accounts_receivable_identifier,
    customer_event_identifier,
    product_identifier,
    read_participant,
    read_preview,
    read_purchase,
    read_spend_request,
    rewards_participant_identifier,
    unit_identifier,
)
from crmcom.payloads import format_date, money, spend_request_payload

WHEN = datetime.datetime(2026, 11, 26, 10, 15, 0)


def _purchase(**overrides):
    values = {
        "customer": accounts_receivable_identifier(number="ACR0001"),
        "unit": unit_identifier(alternative_code="SHOP1"),
        "performed_on": WHEN,
        "reference_number": "Order 00001-001-0001",
        "lines": [
            PurchaseLine(product_identifier(code="COFFEE"), "10.00", "1.90", "11.90", quantity=2),
            PurchaseLine(product_identifier(code="CAKE"), Decimal("4.20"), 0.8, 5, quantity=1),
        ],
        "external_system": "ODOO-POS-1",
    }
    values.update(overrides)
    return Purchase(**values)


def test_purchase_payload_has_every_mandatory_field_and_consistent_totals():
    payload = _purchase().to_payload()
    assert payload == {
        "accounts_receivable_identifier": {"number": "ACR0001"},
        "performed_by_unit_identifier": {"alternative_code": "SHOP1"},
        "performed_on": "2026-11-26T10:15:00",
        "reference_number": "Order 00001-001-0001",
        "total_amount": 16.9,
        "net_amount": 14.2,
        "vat_amount": 2.7,
        "products_set": [
            {
                "product_identifier": {"code": "COFFEE"},
                "quantity": 2,
                "net_amount": 10,
                "vat_amount": 1.9,
                "total_amount": 11.9,
            },
            {
                "product_identifier": {"code": "CAKE"},
                "quantity": 1,
                "net_amount": 4.2,
                "vat_amount": 0.8,
                "total_amount": 5,
            },
        ],
        "external_system": "ODOO-POS-1",
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"reference_number": " "}, "reference number"),
        ({"lines": []}, "at least one product line"),
        ({"customer": {"number": "A", "id": "B"}}, "exactly one"),
        ({"unit": {}}, "exactly one"),
        ({"performed_on": "26/11/2026"}, "does not match format"),
    ],
)
def test_purchase_refuses_bad_input(overrides, message):
    with pytest.raises(ValueError, match=message):
        _purchase(**overrides)


def test_purchase_line_refuses_inconsistent_or_non_numeric_amounts():
    with pytest.raises(ValueError, match="does not make the total"):
        PurchaseLine(product_identifier(code="X"), 10, 2, 13)
    with pytest.raises(ValueError, match="must be a number"):
        PurchaseLine(product_identifier(code="X"), "ten", 0, 10)
    with pytest.raises(ValueError, match="finite"):
        PurchaseLine(product_identifier(code="X"), "NaN", 0, 10)
    with pytest.raises(ValueError, match="exactly one"):
        PurchaseLine({"code": "X", "id": "Y"}, 1, 0, 1)


def test_identifiers_take_exactly_one_key():
    assert rewards_participant_identifier(access_token="  4000123412341234 ") == {
        "access_token_identifier": {"authentication_code": "4000123412341234"}
    }
    assert rewards_participant_identifier(number="RP1") == {"number": "RP1"}
    assert customer_event_identifier(id="ABC") == {"id": "ABC"}
    with pytest.raises(ValueError):
        rewards_participant_identifier()
    with pytest.raises(ValueError):
        rewards_participant_identifier(id="A", number="B")


def test_spend_request_payload_is_strict():
    payload = spend_request_payload(
        customer={"id": "AR1"},
        unit={"alternative_code": "SHOP1"},
        performed_on=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        purchase={"number": "CE000001"},
        spend_amount="5.005",
    )
    assert payload == {
        "accounts_receivable_identifier": {"id": "AR1"},
        "performed_by_unit_identifier": {"alternative_code": "SHOP1"},
        "performed_on": "2026-01-02T03:04:05",
        "purchase_customer_request_identifier": {"number": "CE000001"},
        "spend_amount": 5.01,
    }
    for bad in (0, -1, "abc", None, True):
        with pytest.raises(ValueError):
            spend_request_payload(
                customer={"id": "AR1"},
                unit={"id": "U"},
                performed_on=WHEN,
                purchase={"number": "CE1"},
                spend_amount=bad,
            )


def test_money_and_dates():
    assert money("2.675") == 2.68  # half-up, decided on the decimal text, not the float
    assert money(3) == 3
    aware = datetime.datetime(
        2026, 6, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=3))
    )
    # One convention: an aware date is sent as its own wall-clock time (the till's),
    # or in CRM.COM's zone when the caller knows it; a naive one as it is.
    assert format_date(aware) == "2026-06-01T12:00:00"
    assert format_date(aware, zone=datetime.timezone.utc) == "2026-06-01T09:00:00"
    assert format_date(aware.replace(tzinfo=None)) == "2026-06-01T12:00:00"


def test_read_participant_is_tolerant():
    participant = read_participant(
        {
            "id": "RPID",
            "number": "RP0001",
            "life_cycle_state": "EFFECTIVE",
            "accounts_receivable": {
                "id": "ARID",
                "number": "ACR0001",
                "name": "ACR0001 Maria Georgiou",
                "life_cycle_state": "ACTIVE",
                "account_owner": {"first_name": "Maria", "last_name": "Georgiou", "name": None},
            },
            "wallet": {"balance": "25.5", "currency": {"code": "EUR"}},
        }
    )
    assert participant.name == "Maria Georgiou"
    assert participant.wallet_balance == Decimal("25.50")
    assert participant.currency == "EUR"
    assert participant.is_effective
    # No owner at all: the account name without its number; no wallet: unknown balance.
    other = read_participant(
        {
            "number": "RP2",
            "life_cycle_state": "TERMINATED",
            "accounts_receivable": {"number": "A2", "name": "A2 Nikos"},
        }
    )
    assert other.name == "Nikos"
    assert other.wallet_balance is None
    assert not other.is_effective
    with pytest.raises(CrmcomAnswerError):
        read_participant(None)


def test_read_preview_accepts_both_award_spellings():
    docs = read_preview({"total_award_amount": 1.5, "reduction_method": "FRONT_END_REDUCTION"})
    guide = read_preview({"total_awarded_amount": "1.5", "reduction_method": "BACK_END_REDUCTION"})
    assert docs.award_amount == guide.award_amount == Decimal("1.50")
    assert docs.front_end and not guide.front_end
    preview = read_preview(
        {
            "total_instant_spend_amount": 1,
            "total_automatic_spend_amount": 2.25,
            "total_additional_spend_amount": 7,
            "minimum_spend_amount_per_transaction": 1,
            "maximum_spend_amount_per_transaction": 50,
            "allow_spending": False,
        }
    )
    assert preview.automatic_redemption == Decimal("3.25")
    assert preview.reduction_method == "FRONT_END_REDUCTION"  # the documented default
    assert preview.maximum_spend_amount == Decimal("50.00")
    assert preview.allow_spending is False


def test_read_purchase_falls_back_on_award_transactions():
    result = read_purchase(
        {
            "id": "P1",
            "number": "CE1",
            "life_cycle_state": "POSTED",
            "award_reward_transactions_set": [
                {"amount": 1.25, "life_cycle_state": "POSTED"},
                {"amount": 9, "life_cycle_state": "CANCELLED"},
                {"amount": "0.5"},
            ],
            "total_instant_spend_amount": 1,
            "total_automatic_spend_amount": 2,
        }
    )
    assert result.award_amount == Decimal("1.75")
    assert result.total_spend_amount == Decimal("3.00")
    assert result.is_posted
    assert result.total_amount is None  # not in this answer: unknown, not zero


def test_read_purchase_reads_its_total_to_compare_with_the_order():
    assert read_purchase({"id": "P1", "total_amount": "24.004"}).total_amount == Decimal("24.00")
    assert read_purchase({"id": "P1", "total_amount": "n/a"}).total_amount is None


def test_read_spend_request_never_takes_the_amount_asked():
    guide = read_spend_request(
        {"spend_amount": 10, "spend_reward_transaction": {"total_amount": 4}}
    )
    docs = read_spend_request({"spend_amount": 10, "spend_reward_transaction": {"amount": "4.00"}})
    assert guide.spent_amount == docs.spent_amount == Decimal("4.00")
    assert docs.requested_amount == Decimal("10.00")
    with pytest.raises(CrmcomAnswerError, match="how much was spent"):
        read_spend_request({"spend_amount": 10})


@pytest.mark.parametrize(
    "reader", [read_participant, read_preview, read_purchase, read_spend_request]
)
def test_unusable_answers_are_protocol_errors_that_may_have_been_applied(reader):
    # One hierarchy: callers catch CrmcomError; the request was applied (an OK
    # answer), so it is looked up before being sent again.
    from crmcom import CrmcomError, CrmcomProtocolError

    with pytest.raises(CrmcomAnswerError, match="not an object") as caught:
        reader(["not", "an", "object"])
    assert isinstance(caught.value, CrmcomProtocolError)
    assert isinstance(caught.value, CrmcomError)
    assert not isinstance(caught.value, ValueError)
    assert caught.value.maybe_applied
