"""The check of tools/soak (bench/soak_check.py) on made-up runs: it passes a run
that is exactly once and fails one with a duplicate, a lost purchase, a purchase
of no order, an order twice in Odoo, an order not settled or a wallet that does
not add up."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from soak_check import check, family, kept_value  # noqa: E402 - needs the path above


def purchase(number, reference, state="POSTED", total=8, awarded=1.2, spent=0):
    return {
        "id": f"ID-{number}",
        "number": number,
        "reference_number": reference,
        "life_cycle_state": state,
        "total_amount": total,
        "total_awarded_amount": awarded if state == "POSTED" else 0,
        "total_spend_amount": spent if state == "POSTED" else 0,
    }


def row(uuid, reference, crmcom_state="none", purchase_id=None, crmcom_reference=None, **money):
    return {
        "count": 1,
        "state": "paid",
        "crmcom_state": crmcom_state,
        "pos_reference": reference,
        "crmcom_reference": crmcom_reference or (reference if purchase_id else None),
        "crmcom_purchase_id": purchase_id,
        "participant": None,
        "awarded": money.get("awarded", 0),
        "instant": 0,
        "automatic": money.get("automatic", 0),
        "additional": money.get("additional", 0),
    }


@pytest.fixture
def run():
    """Alice buys 2 coffees (kept); Bob buys 2 coffees, then returns them (refund);
    Alice buys 2 coffees and a sandwich, returns the sandwich (partial refund: the
    purchase is cancelled and the coffees sent again as /2); an anonymous sale."""
    coffees = [["coffee", 2, 4.0]]
    ledger = [
        {"kind": "sale", "uuid": "a", "customer": "RP0001", "lines": coffees, "paid": True},
        {"kind": "sale", "uuid": "b", "customer": "RP0002", "lines": coffees, "paid": True},
        {"kind": "refund", "uuid": "rb", "of": "b", "lines": coffees, "paid": True},
        {
            "kind": "sale",
            "uuid": "c",
            "customer": "RP0001",
            "lines": [["coffee", 2, 4.0], ["sandwich", 1, 7.5]],
            "paid": True,
        },
        {"kind": "refund", "uuid": "rc", "of": "c", "lines": [["sandwich", 1, 7.5]], "paid": True},
        {"kind": "sale", "uuid": "d", "customer": None, "lines": coffees, "paid": True},
    ]
    orders = {
        "a": row("a", "Order a", "sent", "ID-CE1", awarded=1.2),
        "b": row("b", "Order b", "cancelled"),
        "rb": row("rb", "Order rb"),
        "c": row("c", "Order c", "sent", "ID-CE4", "Order c/2", awarded=1.2, automatic=2),
        "rc": row("rc", "Order rc"),
        "d": row("d", "Order d"),
    }
    purchases = [
        purchase("CE1", "Order a"),
        purchase("CE2", "Order b", "CANCELLED"),
        purchase("CE3", "Order c", "CANCELLED", total=15.5),
        purchase("CE4", "Order c/2", spent=2),
    ]
    start = {"RP0001": 20, "RP0002": 30}
    end = {"RP0001": 20 + 1.2 + 1.2 - 2, "RP0002": 30}
    return ledger, orders, purchases, start, end


def test_an_exactly_once_run_passes(run):
    result = check(*run)
    assert result["problems"] == []
    assert (result["paid"], result["due"], result["posted"]) == (4, 2, 2)
    assert (result["duplicates"], result["lost"], result["unknown"]) == (0, 0, 0)
    assert result["cancelled_purchases"] == 2
    assert result["wallets_match"]


def test_a_second_posted_purchase_of_an_order_is_a_duplicate(run):
    ledger, orders, purchases, start, end = run
    purchases.append(purchase("CE9", "Order a/2"))
    result = check(ledger, orders, purchases, start, end)
    assert result["duplicates"] == 1
    assert any("2 POSTED purchases" in problem for problem in result["problems"])
    assert not result["wallets_match"]  # CRM.COM awarded it, Odoo does not know it


def test_a_posted_purchase_of_a_refunded_order_is_a_duplicate(run):
    ledger, orders, purchases, start, end = run
    purchases[1] = purchase("CE2", "Order b")  # the refund never cancelled it
    result = check(ledger, orders, purchases, start, end)
    assert result["duplicates"] == 1
    assert result["problems"]


def test_a_sale_without_posted_purchase_is_lost(run):
    ledger, orders, purchases, start, end = run
    purchases[0] = purchase("CE1", "Order a", "CANCELLED")
    result = check(ledger, orders, purchases, start, end)
    assert result["lost"] == 1
    assert any("no POSTED purchase" in problem for problem in result["problems"])
    assert not result["wallets_match"]  # Odoo counts its awards, CRM.COM does not


def test_a_purchase_of_no_order_and_an_order_twice_in_odoo_fail(run):
    ledger, orders, purchases, start, end = run
    purchases.append(purchase("CE9", "Order zzz", "CANCELLED"))
    orders["d"]["count"] = 2
    result = check(ledger, orders, purchases, start, end)
    assert result["unknown"] == 1
    assert result["odoo_duplicates"] == 1
    assert len(result["problems"]) == 2


def test_an_order_not_settled_or_never_synced_fails(run):
    ledger, orders, purchases, start, end = run
    orders["a"]["crmcom_state"] = "pending"
    ledger.append({"kind": "sale", "uuid": "e", "customer": None, "lines": [], "paid": False})
    result = check(ledger, orders, purchases, start, end)
    assert result["unsettled"] == {"pending": 1}
    assert any("never synced" in problem for problem in result["problems"])


def test_wallets_must_add_up_both_ways(run):
    ledger, orders, purchases, start, end = run
    wrong = copy.deepcopy(end)
    wrong["RP0001"] += 1
    assert not check(ledger, orders, purchases, start, wrong)["wallets_match"]
    orders["c"]["additional"] = 1  # Odoo believes 1.00 more was spent
    result = check(ledger, orders, purchases, start, end)
    assert not result["wallets_match"]
    assert any("Odoo awarded" in problem for problem in result["problems"])


def test_purchase_value_and_ids_are_compared(run):
    ledger, orders, purchases, start, end = run
    purchases[3]["total_amount"] = 15.5  # the sandwich returned was sent again
    orders["a"]["crmcom_purchase_id"] = "ID-OTHER"
    problems = check(ledger, orders, purchases, start, end)["problems"]
    assert any("items kept 8.00" in problem for problem in problems)
    assert any("Odoo holds purchase ID-OTHER" in problem for problem in problems)


def test_family_and_kept_value():
    references = {"Order a"}
    assert family("Order a", references) == "Order a"
    assert family("Order a/3", references) == "Order a"
    assert family("Order a/1", references) is None
    assert family("Order b/2", references) is None
    sale = {"lines": [["coffee", 3, 4.0], ["sandwich", 1, 7.5]]}
    refunds = [{"lines": [["coffee", 1, 4.0], ["redemption", 1, -2.0]]}]
    assert str(kept_value(sale, refunds)) == "15.50"
