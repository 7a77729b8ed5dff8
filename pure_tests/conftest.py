"""Shared fixtures for the pure-Python tests (no Odoo): the CRM.COM simulator.

`simulator` and `simulator_factory` are for every suite (client tests included);
`sim_api` and `purchase_body` help the simulator's own tests speak raw HTTP.
"""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from crmcom_simulator import Simulator  # noqa: E402 - needs the path above

API_PATH = "/crmapi/rest/v2/"
TEST_USER = {
    "username": "pos_user",
    "password": "pos_secret",
    "organisation": "TESTORG",
}
TEST_WEB_API_KEY = "EE73C0AE64524371B5DDEFF5F7BB2192"


@pytest.fixture
def simulator():
    """A started simulator on the bundled test scenario, stopped afterwards."""
    sim = Simulator().start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def simulator_factory():
    """factory(scenario=None, **Simulator kwargs) → a started Simulator.

    Every simulator made is stopped at teardown.
    """
    made = []

    def make(scenario=None, **kwargs):
        sim = Simulator(scenario, **kwargs).start()
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.stop()


class RawApi:
    """Plain `requests` calls to a simulator: the envelope, with no client logic."""

    def __init__(self, base_url):
        import requests

        self.base_url = base_url.rstrip("/") + API_PATH
        self.session = requests.Session()
        self.token = None

    def url(self, endpoint):
        return self.base_url + endpoint

    def login(self):
        envelope = self.session.post(
            self.url("authentication/token"), json=dict(TEST_USER), timeout=5
        ).json()
        assert envelope["status"]["code"] == "OK", envelope
        self.token = envelope["data"]["token"]
        return self

    def post(self, endpoint, body=None, *, timeout=5, **kwargs):
        """The raw requests.Response of a POST; the token is added to dict bodies."""
        if isinstance(body, dict) and self.token and "token" not in body:
            body = {"token": self.token, **body}
        return self.session.post(self.url(endpoint), json=body, timeout=timeout, **kwargs)

    def call(self, endpoint, **params):
        """POST with the session token; returns the decoded envelope."""
        return self.post(endpoint, params).json()

    def get(self, endpoint, query):
        """GET with a raw query string (identifiers flattened by the caller)."""
        separator = "&" if query else ""
        return self.session.get(
            f"{self.url(endpoint)}?token={self.token}{separator}{query}", timeout=5
        ).json()

    def ok(self, endpoint, **params):
        envelope = self.call(endpoint, **params)
        assert envelope["status"]["code"] == "OK", envelope
        return envelope["data"]

    def error(self, endpoint, **params):
        envelope = self.call(endpoint, **params)
        assert envelope["status"]["code"] != "OK", envelope
        assert envelope["data"] is None
        assert envelope["status"]["message"]
        return envelope["status"]


@pytest.fixture
def sim_api(simulator):
    """RawApi logged in (username/password) to the `simulator` fixture."""
    return RawApi(simulator.base_url).login()


@pytest.fixture
def sim_api_for():
    """sim → a RawApi logged in to that simulator."""
    return lambda sim: RawApi(sim.base_url).login()


# Lines of the standard test purchase: total 100.00 at Test Shop (SHOP1) earns
# 5% = 5.00, the 2.00 threshold award, 10% of coffee = 2.00 and 20% of sandwich =
# 6.00 spent instantly; MUFFIN is unknown and is booked on the DEFAULT product.
STANDARD_LINES = (
    ("COFFEE", "17.00", "3.00", "20.00"),
    ("SANDWICH", "25.50", "4.50", "30.00"),
    ("MUFFIN", "42.50", "7.50", "50.00"),
)


def _number(text):
    return float(text)


@pytest.fixture
def purchase_body():
    """Builder of purchases/create (and preview) bodies."""

    def build(
        reference="R-1",
        participant="RP0001",
        unit="SHOP1",
        lines=STANDARD_LINES,
        total=None,
        **extra,
    ):
        body = {
            "rewards_participant_identifier": {"number": participant},
            "performed_by_unit_identifier": {"alternative_code": unit},
            "performed_on": "2024-05-02T10:15:00",
            "reference_number": reference,
        }
        if lines:
            body["products_set"] = [
                {
                    "product_identifier": {"code": code},
                    "quantity": 1,
                    "net_amount": _number(net),
                    "vat_amount": _number(vat),
                    "total_amount": _number(line_total),
                }
                for code, net, vat, line_total in lines
            ]
        if total is not None:
            body["total_amount"] = total
        body.update(extra)
        return {key: value for key, value in body.items() if value is not None}

    return build
