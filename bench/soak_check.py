"""The exactly-once check of tools/soak: what the tills did (their ledgers), what
Odoo holds (one row per order) and what the CRM.COM simulator holds (purchases,
wallets), compared once at the end. Pure Python (no Odoo, no HTTP), so that
pure_tests/test_soak_check.py proves it catches a duplicate, a lost purchase or a
wallet that does not add up.

Definitions
-----------
* A **sale** is a paid order of a till. It is *due in CRM.COM* when its customer is
  a CRM.COM participant and not every item was refunded: then CRM.COM must hold
  exactly one POSTED purchase of it; otherwise none.
* The purchases of an order are those whose ``reference_number`` is the order's
  reference or ``<reference>/<n>`` (the next purchases after a cancellation: a
  cancelled redemption, a partial refund, a replaced purchase). Every earlier one
  must be CANCELLED.
* **lost**: a sale due in CRM.COM without a POSTED purchase; **duplicates**: POSTED
  purchases beyond one per order (and POSTED purchases of orders due none, of
  refunds, of anonymous sales, of drafts the till abandoned); **unknown**: purchases
  of no order of the run.
* A due sale must be ``sent`` in Odoo, its purchase the one Odoo stored
  (``crmcom_purchase_id``, ``crmcom_reference``), of the value of the items kept
  (what the till sold less what it refunded, with taxes), and Odoo's figures of it
  (awarded; instant + automatic + additional spend) must be CRM.COM's.
* **Wallets**: for each participant, CRM.COM's wallet at the end must equal its
  wallet at the start plus, over the run's POSTED purchases of that participant,
  awarded - spent (what CRM.COM holds adds up), and also the start plus, over the
  run's sales sent in Odoo, ``crmcom_awarded_amount`` - (instant + automatic +
  additional spend) (what Odoo recorded adds up to the same money).
"""

import re
from collections import Counter, defaultdict
from decimal import Decimal

CENT = Decimal("0.01")
UNSETTLED = ("pending", "cancel_pending", "refund_pending")
_SUFFIX = re.compile(r"^(.*)/(\d+)$")


def money(value):
    return Decimal(str(value or 0)).quantize(CENT)


def family(reference, references):
    """The order reference a purchase reference belongs to, or None."""
    if reference in references:
        return reference
    match = _SUFFIX.match(reference or "")
    if match and match.group(1) in references and int(match.group(2)) >= 2:
        return match.group(1)
    return None


def kept_value(sale, refunds):
    """What the customer keeps of ``sale`` (with taxes), after ``refunds``."""
    returned = Counter()
    for refund in refunds:
        for product, qty, _price in refund["lines"]:
            returned[product] += qty
    total = Decimal(0)
    for product, qty, price in sale["lines"]:
        back = min(qty, returned[product])
        returned[product] -= back
        total += Decimal(str(price)) * Decimal(str(qty - back))
    return total.quantize(CENT)


def check(ledger, orders, purchases, wallets_start, wallets_end):
    """Compare. ``ledger``: the tills' entries (dicts with ``kind`` sale / refund /
    abandoned, ``uuid``, ``customer`` (participant number or None), ``lines``
    [[product, qty, price]], ``paid``, ``of`` (refunds)). ``orders``: {uuid: Odoo
    row} with ``count`` (rows with that uuid), ``state``, ``crmcom_state``,
    ``pos_reference``, ``crmcom_reference``, ``crmcom_purchase_id``, ``participant``,
    ``awarded``, ``instant``, ``automatic``, ``additional``. ``purchases``: the
    simulator's purchases. ``wallets_*``: {participant number: balance}.
    Returns a dict of counts with ``problems`` (a list of sentences; empty = pass).
    """
    return _Check(ledger, orders, purchases).run(wallets_start, wallets_end)


def _spent(row):
    return money(row["instant"]) + money(row["automatic"]) + money(row["additional"])


class _Check:
    def __init__(self, ledger, orders, purchases):
        self.ledger = ledger
        self.orders = orders
        self.purchases = purchases
        self.problems = []
        self.counts = Counter()
        self.unsettled = Counter()
        self.references = {}  # Odoo order reference -> ledger entry
        self.by_family = defaultdict(list)  # Odoo order reference -> purchases
        self.sent = []  # (entry, row) of the sales due that Odoo says are sent
        self.refunds_of = defaultdict(list)
        for entry in ledger:
            if entry["kind"] == "refund" and entry.get("paid"):
                self.refunds_of[entry["of"]].append(entry)

    def run(self, wallets_start, wallets_end):
        self.odoo_rows()
        self.families()
        for entry in self.ledger:
            row = self.orders.get(entry["uuid"])
            if row:
                self.order(entry, row)
        wallets = self.wallets(wallets_start, wallets_end)
        sales = [entry for entry in self.ledger if entry["kind"] == "sale"]
        return {
            "sales": len(sales),
            "paid": sum(1 for entry in sales if entry.get("paid")),
            "refunds": sum(1 for entry in self.ledger if entry["kind"] == "refund"),
            "abandoned": sum(1 for entry in self.ledger if entry["kind"] == "abandoned"),
            "due": self.counts["due"],
            "posted": self.counts["posted"],
            "lost": self.counts["lost"],
            "duplicates": self.counts["duplicates"],
            "unknown": self.counts["unknown"],
            "odoo_duplicates": sum(
                row["count"] - 1 for row in self.orders.values() if row["count"] > 1
            ),
            "unsettled": dict(self.unsettled),
            "cancelled_purchases": sum(
                1 for p in self.purchases if p["life_cycle_state"] == "CANCELLED"
            ),
            "wallets": wallets,
            "wallets_match": all(w["end"] == w["crmcom"] == w["odoo"] for w in wallets.values()),
            "problems": self.problems,
        }

    def odoo_rows(self):
        """Odoo holds each order the tills synced, once."""
        for entry in self.ledger:
            row = self.orders.get(entry["uuid"])
            name = f"{entry['kind']} {entry['uuid']}"
            if entry["kind"] in ("sale", "refund") and not entry.get("paid"):
                self.problems.append(f"{name}: the till never synced it as paid")
            if not row:
                if entry.get("paid"):
                    self.problems.append(f"{name}: not in Odoo")
                continue
            if row["count"] != 1:
                self.problems.append(f"{name}: {row['count']} orders in Odoo")
            if entry.get("paid") and row["state"] not in ("paid", "done", "invoiced"):
                self.problems.append(f"{name}: Odoo state {row['state']}")
            self.references[row["pos_reference"]] = entry

    def families(self):
        """CRM.COM's purchases, by order."""
        for purchase in self.purchases:
            base = family(purchase["reference_number"], self.references)
            if base is not None:
                self.by_family[base].append(purchase)
                continue
            self.counts["unknown"] += 1
            self.problems.append(
                f"purchase {purchase['number']} ({purchase['reference_number']}):"
                " of no order of the run"
            )

    def order(self, entry, row):
        if row["crmcom_state"] in UNSETTLED:
            self.unsettled[row["crmcom_state"]] += 1
            self.problems.append(f"{entry['kind']} {entry['uuid']}: still {row['crmcom_state']}")
        posted = [
            p
            for p in self.by_family.get(row["pos_reference"], [])
            if p["life_cycle_state"] == "POSTED"
        ]
        kept = kept_value(entry, self.refunds_of[entry["uuid"]]) if entry["kind"] == "sale" else 0
        name = f"{entry['kind']} {row['pos_reference']}"
        if not (entry["kind"] == "sale" and entry.get("paid") and entry.get("customer") and kept):
            if posted:
                self.counts["duplicates"] += len(posted)
                self.problems.append(f"{name}: {len(posted)} POSTED purchase(s), none due")
            if entry["kind"] != "abandoned" and row["crmcom_state"] not in ("none", "cancelled"):
                self.problems.append(f"{name}: Odoo state {row['crmcom_state']}, none due")
            return
        self.counts["due"] += 1
        if row["crmcom_state"] == "sent":
            self.sent.append((entry, row))
        if not posted:
            self.counts["lost"] += 1
            self.problems.append(
                f"{name}: no POSTED purchase (Odoo: {row['crmcom_state']},"
                f" {row['crmcom_purchase_id'] or 'no purchase id'})"
            )
        elif len(posted) > 1:
            self.counts["duplicates"] += len(posted) - 1
            numbers = ", ".join(p["number"] for p in posted)
            self.problems.append(f"{name}: {len(posted)} POSTED purchases ({numbers})")
        else:
            self.counts["posted"] += 1
            self.compare(name, row, posted[0], kept)

    def compare(self, name, row, purchase, kept):
        """The one POSTED purchase of a sale against the Odoo order."""
        if row["crmcom_state"] != "sent":
            self.problems.append(f"{name}: Odoo state {row['crmcom_state']}, purchase POSTED")
        if purchase["id"] != row["crmcom_purchase_id"]:
            self.problems.append(
                f"{name}: Odoo holds purchase {row['crmcom_purchase_id']}, CRM.COM"
                f" {purchase['id']} ({purchase['number']})"
            )
        if purchase["reference_number"] != row["crmcom_reference"]:
            self.problems.append(
                f"{name}: reference {row['crmcom_reference']} in Odoo,"
                f" {purchase['reference_number']} in CRM.COM"
            )
        if money(purchase["total_amount"]) != kept:
            self.problems.append(
                f"{name}: purchase of {money(purchase['total_amount'])}, items kept {kept}"
            )
        awarded, spent = (
            money(purchase["total_awarded_amount"]),
            money(purchase["total_spend_amount"]),
        )
        if money(row["awarded"]) != awarded or _spent(row) != spent:
            self.problems.append(
                f"{name}: Odoo awarded {money(row['awarded'])} / spent {_spent(row)}, CRM.COM"
                f" {awarded} / {spent} ({purchase['number']})"
            )

    def wallets(self, wallets_start, wallets_end):
        """Wallets, both ways: CRM.COM's POSTED purchases and Odoo's sent orders."""
        by_crmcom = Counter()
        for base, mine in self.by_family.items():
            customer = self.references[base].get("customer")
            for purchase in mine:
                if purchase["life_cycle_state"] == "POSTED" and customer:
                    by_crmcom[customer] += money(purchase["total_awarded_amount"]) - money(
                        purchase["total_spend_amount"]
                    )
        by_odoo = Counter()
        for entry, row in self.sent:
            by_odoo[entry["customer"]] += money(row["awarded"]) - _spent(row)
        wallets = {}
        for number in sorted(set(by_crmcom) | set(by_odoo) | set(wallets_end)):
            start, end = money(wallets_start.get(number)), money(wallets_end.get(number))
            crm, odoo = start + by_crmcom[number], start + by_odoo[number]
            wallets[number] = {"start": start, "end": end, "crmcom": crm, "odoo": odoo}
            if not end == crm == odoo:
                self.problems.append(
                    f"wallet {number}: {end} in CRM.COM; start {start} + its POSTED purchases ="
                    f" {crm}; start + Odoo's sent orders = {odoo}"
                )
        return wallets
