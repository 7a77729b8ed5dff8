"""Authentication, token reuse, error classes, retries and secrecy of the client,
over real HTTP against the simulator (and a few real non-CRM.COM servers)."""

import http.server
import logging
import socket
import threading
import time
from decimal import Decimal

import pytest

from client_scenario import (
    ALICE,
    ORGANISATION,
    PASSWORD,
    USERNAME,
    WEB_API_KEY,
)
from crmcom import (
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomClient,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomProtocolError,
    CrmcomTimeoutError,
    TokenCache,
    rewards_participant_identifier,
)
from crmcom.client import normalise_base_url
from crmcom_simulator import Fault
from test_client_calls import purchase_for

SHOW = "rewards_participants/show"
CREATE = "customer_events/purchases/create"
ALICE_ID = rewards_participant_identifier(number=ALICE["number"])


def make_client(simulator, **settings):
    settings.setdefault("web_api_key", WEB_API_KEY)
    settings.setdefault("token_cache", TokenCache())
    settings.setdefault("timeout", (2, 5))
    settings.setdefault("retry_backoff", 0.01)
    return CrmcomClient(simulator.base_url, **settings)


class FakeClock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


# ----------------------------------------------------------------- authentication


def test_web_api_key_token_is_reused_across_calls_and_clients(simulator):
    cache = TokenCache()
    first = make_client(simulator, token_cache=cache)
    second = make_client(simulator, token_cache=cache)
    for _ in range(10):
        first.show_rewards_participant(ALICE_ID)
        second.show_rewards_participant(ALICE_ID)
    assert simulator.login_count == 1
    assert simulator.call_count("authentication/web_api_key/token") == 1


def test_username_password_login(simulator):
    client = make_client(
        simulator,
        web_api_key=None,
        username=USERNAME,
        password=PASSWORD,
        organisation=ORGANISATION,
    )
    assert client.show_rewards_participant(ALICE_ID)["number"] == ALICE["number"]
    assert simulator.call_count("authentication/token") == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"web_api_key": "WRONG-KEY"},
        {
            "web_api_key": None,
            "username": USERNAME,
            "password": "wrong",
            "organisation": ORGANISATION,
        },
    ],
    ids=["web-api-key", "username"],
)
def test_wrong_credentials(simulator, settings):
    client = make_client(simulator, **settings)
    with pytest.raises(CrmcomAuthenticationError) as caught:
        client.show_rewards_participant(ALICE_ID)
    assert not caught.value.maybe_applied
    assert "WRONG-KEY" not in str(caught.value)
    assert simulator.call_count(SHOW) == 0


def test_expired_token_is_renewed_once_transparently(simulator):
    client = make_client(simulator)
    client.show_rewards_participant(ALICE_ID)
    simulator.expire_tokens()
    assert client.create_purchase(purchase_for(ALICE, "AFTER-EXPIRY"))["reference_number"] == (
        "AFTER-EXPIRY"
    )
    assert simulator.login_count == 2
    assert len(simulator.purchases(reference_number="AFTER-EXPIRY")) == 1


def test_token_refused_again_after_renewal_is_an_authentication_error(simulator):
    client = make_client(simulator)
    simulator.inject(Fault(endpoint=SHOW, kind="error", code="INVALID_TOKEN", times=2))
    with pytest.raises(CrmcomAuthenticationError):
        client.show_rewards_participant(ALICE_ID)
    assert simulator.login_count == 2  # renewed once, not in a loop


def test_token_is_renewed_before_its_two_hour_expiry():
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    logins = []

    def login():
        logins.append(clock.now)
        return f"token-{len(logins)}"

    assert cache.fetch("key", login) == "token-1"
    clock.now += 2 * 60 * 60 - 6 * 60  # still six minutes left
    assert cache.fetch("key", login) == "token-1"
    clock.now += 2 * 60  # four minutes left: renew now, not on the first refusal
    assert cache.fetch("key", login) == "token-2"
    assert len(logins) == 2


def test_one_login_for_many_threads(simulator):
    simulator.set_latency(0.05)
    client = make_client(simulator)
    errors = []

    def work():
        try:
            client.show_rewards_participant(ALICE_ID)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert simulator.login_count == 1
    assert simulator.call_count(SHOW) == 12


def test_release_token(simulator):
    client = make_client(simulator)
    client.show_rewards_participant(ALICE_ID)
    assert client.release_token() is True
    assert simulator.call_count("authentication/token/release") == 1
    client.show_rewards_participant(ALICE_ID)
    assert simulator.login_count == 2
    assert make_client(simulator).release_token() is False


# ------------------------------------------------------------------ error classes


def test_api_error_carries_code_message_and_description(simulator):
    simulator.inject(Fault(endpoint=CREATE, kind="error", code="SOMETHING_WRONG", message="No way"))
    with pytest.raises(CrmcomApiError) as caught:
        make_client(simulator).create_purchase(purchase_for(ALICE, "E-1"))
    error = caught.value
    assert (error.code, error.api_message, error.operation) == ("SOMETHING_WRONG", "No way", CREATE)
    assert not error.maybe_applied
    assert simulator.purchases() == []


def test_connection_refused_is_certainly_not_applied():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CrmcomClient(
        f"http://127.0.0.1:{port}",
        web_api_key=WEB_API_KEY,
        token_cache=TokenCache(),
        retry_backoff=0,
    )
    with pytest.raises(CrmcomConnectionError) as caught:
        client.create_purchase(purchase_for(ALICE, "NOWHERE"))
    assert caught.value.maybe_applied is False
    assert "cannot be reached" in str(caught.value)


def test_read_timeout_on_create_may_be_applied_and_is_not_retried(simulator):
    simulator.inject(Fault(endpoint=CREATE, kind="latency", delay=1.0))
    client = make_client(simulator, timeout=(2, 0.3))
    with pytest.raises(CrmcomTimeoutError) as caught:
        client.create_purchase(purchase_for(ALICE, "SLOW-1"))
    assert caught.value.maybe_applied is True
    # The simulator finishes the work after the client gave up: a lookup finds it.
    deadline = time.monotonic() + 3
    while not simulator.purchases(reference_number="SLOW-1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert simulator.call_count(CREATE) == 1
    customer = {"number": ALICE["account_number"]}
    assert client.find_purchase(customer, "SLOW-1")["reference_number"] == "SLOW-1"


@pytest.mark.parametrize("applied", [False, True], ids=["lost-request", "lost-answer"])
def test_dropped_connection_on_create_is_unknown_and_lookup_tells(simulator, applied):
    simulator.inject(Fault(endpoint=CREATE, kind="drop", applied=applied))
    client = make_client(simulator)
    with pytest.raises(CrmcomConnectionError) as caught:
        client.create_purchase(purchase_for(ALICE, "DROP-1"))
    assert caught.value.maybe_applied is True
    assert simulator.call_count(CREATE) == 1  # never a blind retry
    found = client.find_purchase({"number": ALICE["account_number"]}, "DROP-1")
    assert (found is not None) is applied


def test_malformed_answer_is_a_protocol_error_that_may_be_applied(simulator):
    simulator.inject(Fault(endpoint=CREATE, kind="malformed", applied=True))
    with pytest.raises(CrmcomProtocolError) as caught:
        make_client(simulator).create_purchase(purchase_for(ALICE, "GARBAGE-1"))
    assert caught.value.maybe_applied is True
    assert len(simulator.purchases(reference_number="GARBAGE-1")) == 1


def test_reads_are_retried_on_gateway_errors_and_dropped_connections(simulator):
    client = make_client(simulator)
    client.show_rewards_participant(ALICE_ID)
    simulator.inject(Fault(endpoint=SHOW, kind="http_error", http_status=503, times=1))
    simulator.inject(Fault(endpoint=SHOW, kind="drop", times=1))
    assert client.show_rewards_participant(ALICE_ID)["number"] == ALICE["number"]
    assert simulator.call_count(SHOW) == 4
    simulator.inject(Fault(endpoint=SHOW, kind="http_error", http_status=503, times=None))
    with pytest.raises(CrmcomProtocolError) as caught:
        client.show_rewards_participant(ALICE_ID)
    assert caught.value.http_status == 503
    assert simulator.call_count(SHOW) == 4 + 1 + client.read_retries


def test_creates_are_not_retried_on_gateway_errors(simulator):
    simulator.inject(Fault(endpoint=CREATE, kind="http_error", http_status=502))
    with pytest.raises(CrmcomProtocolError) as caught:
        make_client(simulator).create_purchase(purchase_for(ALICE, "GW-1"))
    assert caught.value.maybe_applied is True
    assert simulator.call_count(CREATE) == 1


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server naming)
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_crmcom_is_told_apart():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = CrmcomClient(
            f"http://127.0.0.1:{server.server_port}",
            web_api_key=WEB_API_KEY,
            token_cache=TokenCache(),
        )
        with pytest.raises(CrmcomProtocolError, match="did not answer like CRM.COM"):
            client.login()
    finally:
        server.shutdown()
        server.server_close()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every POST with an OK login envelope and records what it was sent."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        body = b'{"status": {"code": "OK"}, "data": {"token": "T-FROM-HERE"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture
def recording_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_environment_proxy_is_used_and_no_proxy_is_honoured(recording_server, monkeypatch):
    # Read once, when the process first talks to a host: each URL is a new host here.
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{recording_server.server_port}")
    port = _unused_port()
    client = CrmcomClient(
        f"http://127.0.0.1:{port}", web_api_key=WEB_API_KEY, token_cache=TokenCache()
    )
    assert client.login() == "T-FROM-HERE"
    assert recording_server.seen[0][0] == (
        f"http://127.0.0.1:{port}/crmapi/rest/v2/authentication/web_api_key/token"
    )
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    bypassed = CrmcomClient(
        f"http://127.0.0.1:{_unused_port()}",
        web_api_key=WEB_API_KEY,
        token_cache=TokenCache(),
        retry_backoff=0,
    )
    with pytest.raises(CrmcomConnectionError, match="cannot be reached"):
        bypassed.login()
    assert len(recording_server.seen) == 1


def test_netrc_credentials_never_go_to_crmcom(recording_server, monkeypatch, tmp_path):
    for name in ("http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password NETRC-SECRET\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    client = CrmcomClient(
        f"http://127.0.0.1:{recording_server.server_port}",
        username=USERNAME,
        password=PASSWORD,
        organisation=ORGANISATION,
        token_cache=TokenCache(),
    )
    client.call("rewards_participants/show", {"identifier": {"number": "RP1"}})
    assert [auth for _path, auth in recording_server.seen] == [None, None]


# ----------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "base_url, settings, message",
    [
        ("", {"web_api_key": "K"}, "address is missing"),
        ("ftp://host", {"web_api_key": "K"}, "must start with https"),
        ("https://host/?x=1", {"web_api_key": "K"}, "must not hold"),
        ("https://host", {}, "needs a Web API key"),
        ("https://host", {"username": "u", "password": "p"}, "needs a Web API key"),
        ("https://host", {"web_api_key": "K", "username": "u", "password": "p"}, "not both"),
        ("https://host", {"web_api_key": "K", "timeout": (0, 5)}, "positive"),
        ("https://host", {"web_api_key": "K", "timeout": "soon"}, "connect, read"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_sent(base_url, settings, message):
    with pytest.raises(CrmcomConfigurationError, match=message):
        CrmcomClient(base_url, **settings)


def test_base_url_normalisation():
    assert (
        normalise_base_url("https://crm.example.com") == "https://crm.example.com/crmapi/rest/v2/"
    )
    assert normalise_base_url("https://h/crmapi/rest/v2/") == "https://h/crmapi/rest/v2/"
    assert (
        normalise_base_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x/crmapi/rest/v2/"
    )


# ------------------------------------------------------------------------ secrecy


def test_secrets_never_reach_logs_records_or_errors(simulator, caplog):
    caplog.set_level(logging.DEBUG)
    records = []
    client = make_client(simulator, on_call=records.append)
    token = client.login()
    created = client.create_purchase(purchase_for(ALICE, "SECRET-1"))
    client.show_purchase({"number": created["number"]})  # GET: token in the query string
    simulator.inject(Fault(endpoint=CREATE, kind="error", code="BAD", message=f"echo {token}"))
    with pytest.raises(CrmcomApiError) as caught:
        client.create_purchase(purchase_for(ALICE, "SECRET-2"))
    assert token not in str(caught.value)
    # What this process logged on the client's side (the server's own log is CRM.COM's).
    client_log = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("crmcom_simulator")
    )
    text = client_log + repr([(r.request, r.response, str(r.error)) for r in records])
    assert token not in text
    assert WEB_API_KEY not in text
    assert [r.outcome for r in records][-3:] == ["OK", "OK", "BAD"]
    assert records[1].request["token"] == "***"
    assert records[1].request["reference_number"] == "SECRET-1"
    assert "token=***" in client_log  # urllib3's own debug line, scrubbed


def test_amounts_are_read_as_exact_decimals(simulator):
    client = make_client(simulator)
    data = client.show_rewards_participant(ALICE_ID)
    assert isinstance(data["wallet"]["balance"], Decimal | int)
