"""The client against a stricter CRM.COM (issue #13), over real HTTP against the
simulator's strict switches: refusals read by context (not by exact codes), redirects
never followed, the inferred additional spend, time zones of the duplicate lookup."""

import datetime
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from client_scenario import ALICE, CARD_TOKEN, FRONT_END_UNIT, PASSWORD, USERNAME, WEB_API_KEY
from crmcom import (
    CrmcomAlreadyCancelledError,
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomClient,
    CrmcomConfigurationError,
    CrmcomNotFoundError,
    CrmcomProtocolError,
    CrmcomRedirectError,
    TokenCache,
    accounts_receivable_identifier,
    read_purchase,
    read_spend_request,
    rewards_participant_identifier,
    unit_identifier,
)
from crmcom.client import normalise_base_url
from crmcom_simulator import Fault
from test_client_calls import purchase_for
from test_client_transport import make_client

SHOW = "rewards_participants/show"
CREATE = "customer_events/purchases/create"
CANCEL = "customer_events/purchases/cancel"
ALICE_ID = rewards_participant_identifier(number=ALICE["number"])
ALICE_AR = accounts_receivable_identifier(number=ALICE["account_number"])
UNKNOWN_CARD = rewards_participant_identifier(access_token="4999999999999999")

# Two code vocabularies of a server: the simulator's own, and one whose session code
# has none of the words a client might guess and whose "unknown card" code names the
# access token (which speaks of a token, but not of the session's).
VOCABULARIES = {
    "simulator": {},
    "other": {
        "ACCESS_TOKEN_NOT_FOUND": "ACCESS_TOKEN_NOT_FOUND",
        "INVALID_TOKEN": {"code": "E1017", "message": "Denied.", "description": ""},
        "TOKEN_IDLE_EXPIRED": {"code": "E1017", "message": "Denied.", "description": ""},
        "ALREADY_CANCELLED": {"code": "E2001", "message": "Refused.", "description": ""},
    },
}


# ------------------------------------------- 1. customer errors are not session errors


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
def test_unknown_card_is_not_found_without_a_new_login(simulator_factory, vocabulary):
    sim = simulator_factory(settings={"error_codes": VOCABULARIES[vocabulary]})
    client = make_client(sim)
    client.show_rewards_participant(ALICE_ID)  # a token in use
    with pytest.raises(CrmcomNotFoundError) as caught:
        client.show_rewards_participant(UNKNOWN_CARD)
    assert isinstance(caught.value, CrmcomApiError)
    assert not isinstance(caught.value, CrmcomAuthenticationError)
    assert not caught.value.maybe_applied
    assert sim.login_count == 1
    assert sim.call_count(SHOW) == 2
    # A known card still identifies the customer with the same token.
    client.show_rewards_participant(rewards_participant_identifier(access_token=CARD_TOKEN))
    assert sim.login_count == 1


def test_unknown_number_is_not_found_too(simulator):
    client = make_client(simulator)
    with pytest.raises(CrmcomNotFoundError):
        client.show_rewards_participant(rewards_participant_identifier(number="RP9999"))


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
def test_expired_session_is_renewed_once_whatever_its_code(simulator_factory, vocabulary):
    sim = simulator_factory(settings={"error_codes": VOCABULARIES[vocabulary]})
    client = make_client(sim, session_check_after=0.2)
    client.show_rewards_participant(ALICE_ID)
    sim.expire_tokens()
    time.sleep(0.3)  # the token has not been accepted for a while
    assert client.create_purchase(purchase_for(ALICE, "AFTER-EXPIRY"))["reference_number"] == (
        "AFTER-EXPIRY"
    )
    assert sim.login_count == 2
    assert sim.call_count(CREATE) == 2
    assert len(sim.purchases(reference_number="AFTER-EXPIRY")) == 1
    # The code is known now: the next expiry is renewed at once, however recent the token.
    sim.expire_tokens()
    assert client.show_rewards_participant(ALICE_ID)["number"] == ALICE["number"]
    assert sim.login_count == 3


def test_session_error_with_http_401_is_renewed_at_once(simulator_factory):
    sim = simulator_factory(
        settings={
            "error_codes": VOCABULARIES["other"],
            "session_error_http_status": 401,
        }
    )
    client = make_client(sim)
    client.show_rewards_participant(ALICE_ID)
    sim.expire_tokens()  # the token was accepted a moment ago: only the 401 tells
    assert client.show_rewards_participant(ALICE_ID)["number"] == ALICE["number"]
    assert sim.login_count == 2


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
def test_idle_expired_token_is_renewed_once(simulator_factory, vocabulary):
    sim = simulator_factory(
        settings={"error_codes": VOCABULARIES[vocabulary], "token_idle_timeout": 0.3}
    )
    client = make_client(sim, session_check_after=0.25)
    client.show_rewards_participant(ALICE_ID)
    time.sleep(0.4)
    assert client.show_rewards_participant(ALICE_ID)["number"] == ALICE["number"]
    assert sim.login_count == 2
    assert sim.call_count(SHOW) == 3


def test_unreadable_refusal_of_a_token_in_use_is_not_a_session_error(simulator):
    client = make_client(simulator)
    client.show_rewards_participant(ALICE_ID)
    simulator.inject(Fault(endpoint=CREATE, kind="error", code="E2002", message="Refused."))
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(purchase_for(ALICE, "OPAQUE-1"))
    assert not isinstance(caught.value, CrmcomAuthenticationError)
    assert caught.value.code == "E2002"
    assert simulator.login_count == 1
    assert simulator.call_count(CREATE) == 1


def test_the_same_unreadable_refusal_twice_is_checked_once_then_remembered(simulator):
    client = make_client(simulator)
    client.show_rewards_participant(ALICE_ID)
    simulator.inject(Fault(endpoint=SHOW, kind="error", code="E2002", times=None))
    for _ in range(4):
        with pytest.raises(CrmcomApiError) as caught:
            client.show_rewards_participant(ALICE_ID)
        assert not isinstance(caught.value, CrmcomAuthenticationError)
    # The second refusal in a row made the client try a new token once; the code
    # proved to be about the request and is not checked again.
    assert simulator.login_count == 2
    assert simulator.call_count(SHOW) == 1 + 4 + 1


def test_fresh_token_refused_for_the_session_is_an_authentication_error(simulator_factory):
    sim = simulator_factory(settings={"session_error_http_status": 401})
    client = make_client(sim)
    sim.inject(Fault(endpoint=SHOW, kind="error", code="INVALID_TOKEN", times=2))
    with pytest.raises(CrmcomAuthenticationError):
        client.show_rewards_participant(ALICE_ID)
    assert sim.login_count == 2


# ------------------------------------------------------- 2. redirects are never followed


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("endpoint", ["authentication/token", CREATE])
def test_redirects_are_never_followed(simulator, status, endpoint):
    records = []
    client = make_client(
        simulator,
        web_api_key=None,
        username=USERNAME,
        password=PASSWORD,
        organisation="TESTORG",
        on_call=records.append,
    )
    if endpoint == CREATE:
        client.login()
    simulator.inject(Fault(endpoint=endpoint, kind="redirect", http_status=status))
    with pytest.raises(CrmcomRedirectError) as caught:
        client.create_purchase(purchase_for(ALICE, "REDIRECTED"))
    error = caught.value
    assert isinstance(error, CrmcomProtocolError)
    assert error.maybe_applied is False  # refused by the address, never reached CRM.COM
    assert error.http_status == status
    assert error.location == simulator.trap_url()
    assert "redirect" in str(error)
    assert simulator.trap_requests == []  # nothing reached the other listener
    assert simulator.call_count(endpoint) == 1  # not retried
    assert simulator.purchases() == []
    text = str(error) + repr([(r.request, r.response, str(r.error)) for r in records])
    assert PASSWORD not in text


@pytest.mark.parametrize(
    "address",
    [
        "http://host.example\\@localhost/",
        "https://crm.example.com\\@127.0.0.1/",
        "https://user:hunter22@crm.example.com",
        "https://hunter22@crm.example.com",
        "http://crm.example.com",
        "http://localhost.crm.example.com",
        "https://crm.example.com/#hunter22",
        "https://crm.example.com/?key=hunter22",
        "ftp://crm.example.com",
        "file:///etc/passwd",
        "https://crm example.com",
        "https://crm.example.com:99999",
    ],
)
def test_unsafe_server_addresses_are_refused_without_echoing_them(address):
    with pytest.raises(CrmcomConfigurationError) as caught:
        CrmcomClient(address, web_api_key=WEB_API_KEY, token_cache=TokenCache())
    assert "hunter22" not in str(caught.value)
    assert "example" not in str(caught.value)


def test_safe_server_addresses_are_normalised():
    assert normalise_base_url("http://localhost:8080") == "http://localhost:8080/crmapi/rest/v2/"
    assert normalise_base_url("http://127.0.0.2:1/") == "http://127.0.0.2:1/crmapi/rest/v2/"
    assert normalise_base_url("http://[::1]:8069") == "http://[::1]:8069/crmapi/rest/v2/"
    assert normalise_base_url("HTTPS://CRM.Example.com:8443/crmapi/rest/v2") == (
        "https://crm.example.com:8443/crmapi/rest/v2/"
    )


# ----------------------------------------------- 3. the inferred additional spend


@pytest.mark.parametrize("omit", [False, True], ids=["with-field", "without-field"])
def test_additional_spend_is_read_with_or_without_the_inferred_field(simulator_factory, omit):
    sim = simulator_factory(settings={"omit_inferred_fields": omit})
    client = make_client(sim)
    created = read_purchase(client.create_purchase(purchase_for(ALICE, "ADD-1")))
    client.create_spend_request(
        customer=ALICE_AR,
        unit=unit_identifier(alternative_code=FRONT_END_UNIT),
        performed_on=datetime.datetime(2026, 11, 26, 10, 0, 5),
        purchase={"number": created.number},
        spend_amount=5,
    )
    shown = client.show_purchase({"number": created.number})
    assert ("total_additional_spend_amount" in shown) is not omit
    result = read_purchase(shown)
    assert result.additional_spend_amount == Decimal("5.00")
    assert result.total_spend_amount == Decimal("5.00")


def test_read_purchase_falls_back_on_the_documented_total():
    documented = {
        "total_spend_amount": 10,
        "total_instant_spend_amount": 3,
        "total_automatic_spend_amount": "2",
    }
    assert read_purchase(documented).additional_spend_amount == Decimal("5.00")
    both = {**documented, "total_additional_spend_amount": 4}
    assert read_purchase(both).additional_spend_amount == Decimal("4.00")  # as answered
    assert read_purchase({"total_instant_spend_amount": 3}).additional_spend_amount == 0
    assert (
        read_purchase({"total_spend_amount": 1, "total_instant_spend_amount": 3})
    ).additional_spend_amount == 0  # never negative


# ------------------------------------------------ 4. time zones of the duplicate lookup


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Nicosia", "Pacific/Kiritimati"])
@pytest.mark.parametrize("bound", ["naive-utc", "aware"])
def test_lookup_finds_the_purchase_whatever_the_servers_zone(simulator_factory, zone, bound):
    sim = simulator_factory(settings={"timezone": zone})
    client = make_client(sim)
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    till = ZoneInfo("Europe/Paris")
    purchase = purchase_for(ALICE, "TZ-1")
    purchase = type(purchase)(**{**purchase.__dict__, "performed_on": datetime.datetime.now(till)})
    client.create_purchase(purchase)
    after = started.replace(tzinfo=None) if bound == "naive-utc" else started.astimezone(till)
    found = client.find_purchase(ALICE_AR, "TZ-1", submitted_after=after)
    assert found is not None and found["reference_number"] == "TZ-1"
    # And a purchase submitted before the bound is never what is found for it.
    assert client.find_purchase(ALICE_AR, "TZ-NONE", submitted_after=after) is None


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Nicosia"])
def test_with_the_servers_zone_dates_are_sent_in_it(simulator_factory, zone):
    sim = simulator_factory(settings={"timezone": zone})
    client = make_client(sim, server_timezone=zone)
    sold = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    purchase = purchase_for(ALICE, "TZ-2")
    client.create_purchase(type(purchase)(**{**purchase.__dict__, "performed_on": sold}))
    (booked,) = sim.purchases(reference_number="TZ-2")
    assert booked["performed_on"] == sold.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    assert client.find_purchase(ALICE_AR, "TZ-2", submitted_after=started) is not None
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    assert client.list_purchases(ALICE_AR, submitted_after=later) == []


def test_without_the_servers_zone_performed_on_is_the_tills_wall_clock(simulator):
    client = make_client(simulator)
    sold = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    purchase = purchase_for(ALICE, "TZ-3")
    client.create_purchase(type(purchase)(**{**purchase.__dict__, "performed_on": sold}))
    assert simulator.purchases(reference_number="TZ-3")[0]["performed_on"] == (
        "2026-07-01T12:00:00"
    )
    # Naive, as the models pass it today: sent as it is.
    client.create_purchase(purchase_for(ALICE, "TZ-4"))
    assert simulator.purchases(reference_number="TZ-4")[0]["performed_on"] == (
        "2026-11-26T10:00:00"
    )


def test_unknown_server_zone_is_a_configuration_error():
    with pytest.raises(CrmcomConfigurationError, match="time zone"):
        CrmcomClient("https://crm.example.com", web_api_key="K", server_timezone="Mars/Base")


# ---------------------------------------------------------- 5. the strict switches


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
def test_cancelling_a_cancelled_purchase_is_recognised_by_reading_it(simulator_factory, vocabulary):
    sim = simulator_factory(settings={"error_codes": VOCABULARIES[vocabulary]})
    client = make_client(sim)
    created = read_purchase(client.create_purchase(purchase_for(ALICE, "CANCEL-2")))
    client.cancel_purchase({"id": created.id})
    wallet = sim.wallet_balance(ALICE["number"])
    with pytest.raises(CrmcomAlreadyCancelledError) as caught:
        client.cancel_purchase({"id": created.id})
    assert isinstance(caught.value, CrmcomApiError)
    assert not caught.value.maybe_applied
    assert read_purchase(caught.value.purchase).life_cycle_state == "CANCELLED"
    assert sim.wallet_balance(ALICE["number"]) == wallet
    assert sim.login_count == 1


def test_a_cancel_refused_for_another_reason_is_not_taken_for_cancelled(simulator):
    client = make_client(simulator)
    created = read_purchase(client.create_purchase(purchase_for(ALICE, "CANCEL-3")))
    simulator.inject(Fault(endpoint=CANCEL, kind="error", code="BUSY"))
    with pytest.raises(CrmcomApiError) as caught:
        client.cancel_purchase({"id": created.id})
    assert not isinstance(caught.value, CrmcomAlreadyCancelledError)
    assert caught.value.code == "BUSY"
    assert read_purchase(client.show_purchase({"id": created.id})).is_posted


def test_spend_everything_reads_what_was_spent_not_what_was_asked(simulator_factory):
    sim = simulator_factory(settings={"spend_everything": True})
    client = make_client(sim)
    created = read_purchase(client.create_purchase(purchase_for(ALICE, "ALL-1")))
    spend = read_spend_request(
        client.create_spend_request(
            customer=ALICE_AR,
            unit=unit_identifier(alternative_code=FRONT_END_UNIT),
            performed_on=datetime.datetime(2026, 11, 26, 10, 0, 5),
            purchase={"number": created.number},
            spend_amount=1,
        )
    )
    assert spend.requested_amount == Decimal("1.00")
    assert spend.spent_amount == Decimal("20.00")  # min(wallet 20, purchase 20)
    shown = read_purchase(client.show_purchase({"number": created.number}))
    assert shown.additional_spend_amount == Decimal("20.00")


def test_duplicate_external_reference_is_refused_once_without_login(simulator_factory):
    sim = simulator_factory(settings={"unique_external_system_reference_numbers": True})
    client = make_client(sim)
    first = purchase_for(ALICE, "EXT-1")
    first = type(first)(**{**first.__dict__, "external_system_reference_number": "ORDER 7"})
    client.create_purchase(first)
    second = type(first)(**{**first.__dict__, "reference_number": "EXT-2"})
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(second)
    assert not caught.value.maybe_applied
    assert sim.call_count(CREATE) == 2
    assert sim.login_count == 1


def test_strict_server_accepts_what_the_client_sends(simulator_factory):
    sim = simulator_factory(settings={"strict": True})
    client = make_client(sim)
    purchase = purchase_for(ALICE, "STRICT-1", amount="20.005")  # rounded to cents by the client
    created = read_purchase(client.create_purchase(purchase))
    assert created.total_amount == Decimal("20.01")
    with pytest.raises(CrmcomApiError):
        client.create_purchase(purchase_for(ALICE, "STRICT-2", code="MUFFIN"))


def test_a_refused_parameter_whose_text_names_a_token_is_not_a_session_error(simulator):
    client = make_client(simulator)
    client.show_rewards_participant(ALICE_ID)
    simulator.inject(
        Fault(
            endpoint=CREATE,
            kind="error",
            code="INVALID_PARAMETER",
            message="The parameter 'access_token_identifier' is invalid: the token is unknown.",
        )
    )
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(purchase_for(ALICE, "PARAM-1"))
    assert not isinstance(caught.value, CrmcomAuthenticationError)
    assert simulator.login_count == 1
    assert simulator.call_count(CREATE) == 1
