import logging
from collections import Counter
from decimal import Decimal

from odoo import fields
from odoo.tests import tagged

from ..crmcom_simulator import Fault
from ..models.trust import in_flow
from .common import CrmcomPosCase

# Figures for the run's summary (tools/pytest_odoo_suite.py prints this logger's
# records at the end of the pytest run; odoo-bin logs them as usual).
_report = logging.getLogger("odoo.addons.pos_crmcom_rewards.report")

ORDERS = 500
# Five kinds of trouble, ~4.5% each: about one request in five is hit.
SOAK_FAULTS = [
    {"kind": "drop", "applied": False},
    {"kind": "drop", "applied": True},  # applied, answer lost
    {"kind": "http_error", "http_status": 503},
    {"kind": "malformed", "applied": True},
    {"kind": "error", "code": "INTERNAL_ERROR"},
]


@tagged("post_install", "-at_install")
class TestCrmcomSoak(CrmcomPosCase):
    def test_500_orders_under_faults_end_with_one_purchase_each(self):
        bob = self.env["res.partner"].create(
            {
                "name": "Bob Brown",
                "crmcom_participant_id": "40000000000000000000000000000002",
                "crmcom_participant_number": "RP0002",
                "crmcom_account_number": "ACR0002",
            }
        )
        customers = [self.alice, bob]
        datas = [
            self.create_ui_order_data(
                [(self.coffee, 1 + index % 4), (self.sandwich, index % 3)],
                customer=customers[index % 2],
            )
            for index in range(ORDERS)
        ]
        for fault in SOAK_FAULTS:
            self.simulator.inject(Fault(endpoint="*", times=None, probability=0.045, **fault))
        ids = []
        for start in range(0, ORDERS, 50):
            result = self.env["pos.order"].sync_from_ui(datas[start : start + 50])
            ids += [order["id"] for order in result["pos.order"]]
        orders = self.env["pos.order"].browse(ids)
        self.assertEqual(set(orders.mapped("crmcom_state")), {"pending"})

        rounds = Counter()
        for round_number in range(40):
            if round_number == 3:
                self.simulator.expire_tokens()  # tokens expire mid-run
            pending = orders.filtered(lambda order: order.crmcom_state == "pending")
            failed = orders.filtered(lambda order: order.crmcom_state == "failed")
            if not pending and not failed:
                break
            in_flow(pending).write({"crmcom_next_attempt_at": fields.Datetime.now()})
            while self.drain():
                rounds["cron runs"] += 1
            if failed:
                rounds["back-office retries"] += len(failed)
                failed.action_crmcom_retry()
        self.simulator.clear_faults()

        self.assertEqual(set(orders.mapped("crmcom_state")), {"sent"})
        posted = [p for p in self.simulator.purchases() if p["life_cycle_state"] == "POSTED"]
        by_reference = Counter(p["reference_number"] for p in self.simulator.purchases())
        self.assertEqual(len(posted), ORDERS)
        self.assertEqual(max(by_reference.values()), 1, "a reference was sent twice")
        self.assertEqual(set(by_reference), set(orders.mapped("pos_reference")))
        for order in orders:
            self.assertEqual(order.crmcom_reference, order.pos_reference)
        ids_in_crmcom = {p["id"] for p in posted}
        self.assertEqual(set(orders.mapped("crmcom_purchase_id")), ids_in_crmcom)
        # Wallets: start + what Odoo recorded as awarded - what CRM.COM spent by itself.
        for customer, number, start in ((self.alice, "RP0001", 20), (bob, "RP0002", 30)):
            mine = orders.filtered(lambda order, c=customer: order.partner_id == c)
            expected = Decimal(start) + sum(
                Decimal(str(order.crmcom_awarded_amount))
                - Decimal(str(order.crmcom_instant_spend_amount))
                - Decimal(str(order.crmcom_automatic_spend_amount))
                for order in mine
            )
            self.assertEqual(
                self.simulator.wallet_balance(number), expected.quantize(Decimal("0.01"))
            )

        outcomes = Counter(call["status_code"] for call in self.simulator.calls)
        endpoints = Counter(call["endpoint"] for call in self.simulator.calls)
        faulted = sum(count for code, count in outcomes.items() if code != "OK")
        _report.info(
            f"soak: {ORDERS} orders -> {len(posted)} POSTED purchases, 0 duplicates;"
            f" {len(self.simulator.calls)} CRM.COM calls, {faulted} faulted"
            f" ({faulted / len(self.simulator.calls):.0%});"
            f" creates {endpoints['customer_events/purchases/create']},"
            f" lookups {endpoints['customer_events/purchases/list']},"
            f" logins {self.simulator.login_count}; {dict(rounds)}; outcomes {dict(outcomes)}"
        )
