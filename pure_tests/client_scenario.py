"""Identifiers of the simulator's bundled test scenario
(crmcom_simulator/scenarios/test.json) used by the client tests."""

from decimal import Decimal

WEB_API_KEY = "EE73C0AE64524371B5DDEFF5F7BB2192"
USERNAME, PASSWORD, ORGANISATION = "pos_user", "pos_secret", "TESTORG"

FRONT_END_UNIT = "SHOP1"
BACK_END_UNIT = "SHOP2"
PRODUCT_CODE = "COFFEE"

ALICE = {  # the everyday customer
    "number": "RP0001",
    "account_number": "ACR0001",
    "name": "Alice Adams",
    "balance": Decimal("20.00"),
}
BLOCKED = {"number": "RP0003", "account_number": "ACR0003"}
TERMINATED = {"number": "RP0004", "account_number": "ACR0004"}

CARD_TOKEN = "4000000000000001"
PHONE_TOKEN = "+35799000001"
EMAIL_IDENTIFIER, EMAIL_PASS_CODE = "alice@example.com", "1111"
