"""Odoo-side set-up of tools/soak, run in its own process with a real registry
cursor (like `odoo-bin shell`, as bench/odoo_tasks.py), never as an Odoo test.

    python bench/soak_tasks.py CONF DB setup SIM_URL TILLS   -> JSON on the last line

Creates (once, then reuses) a cashier, three products and TILLS tills with CRM.COM
Rewards on, each with an open session; the even tills are at the simulator's unit
SHOP1 (front-end reduction), the odd ones at SHOP2 (back-end reduction). Orders
of earlier runs still waiting for CRM.COM are taken out of the queue: this run's
simulator does not know them.
"""

# A script run by tools/soak in its own process, like `odoo-bin shell`: it commits
# the data it builds and prints its JSON result for the caller.
# pylint: disable=invalid-commit,print-used

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

from odoo_tasks import (  # noqa: E402 - bench's own helpers
    _create_till,
    _env,
    _open_session,
    set_url,
)

CASHIER = ("soak_cashier", "soak_cashier")
INFO_KEY = "pos_crmcom_soak.info"
# name, price, (field, CRM.COM code): the muffin has no code and is booked on the
# fallback product (DEFAULT).
PRODUCTS = {
    "coffee": ("Soak Coffee", 4.0, ("default_code", "COFFEE")),
    "sandwich": ("Soak Sandwich", 7.5, ("crmcom_product_code", "SANDWICH")),
    "muffin": ("Soak Muffin", 3.0, None),
}


def setup(env, url, tills):
    set_url(env, url)
    ICP = env["ir.config_parameter"]
    info = json.loads(ICP.get_param(INFO_KEY) or "{}")
    if not info:
        products = {}
        for key, (name, price, code) in PRODUCTS.items():
            vals = {
                "name": name,
                "available_in_pos": True,
                "lst_price": price,
                "taxes_id": [(5, 0, 0)],
            }
            if code:
                vals[code[0]] = code[1]
            products[key] = {"id": env["product.product"].create(vals).id, "price": price}
        cashier = env["res.users"].create(
            {
                "name": "Soak Cashier",
                "login": CASHIER[0],
                "password": CASHIER[1],
                "groups_id": [
                    (
                        6,
                        0,
                        [
                            env.ref("base.group_user").id,
                            env.ref("point_of_sale.group_pos_user").id,
                        ],
                    )
                ],
            }
        )
        info = {"cashier_id": cashier.id, "products": products, "tills": []}
    # Paying a saved draft tracks its state in the chatter, as the cashier: a user
    # without an e-mail address cannot post ("configure the sender's email address").
    env["res.users"].browse(info["cashier_id"]).email = "soak.cashier@example.com"
    while len(info["tills"]) < tills:
        k = len(info["tills"])
        unit = "SHOP1" if k % 2 == 0 else "SHOP2"
        config, cash = _create_till(
            env,
            f"Soak till {k + 1}",
            f"Cash Soak {k + 1}",
            enabled=True,
            unit_value=unit,
            external_system="ODOO-SOAK",
        )
        info["tills"].append(
            {
                "config_id": config.id,
                "session_id": None,
                "cash_pm_id": cash.id,
                "pricelist_id": config.pricelist_id.id,
                "unit": unit,
            }
        )
    for till in info["tills"]:
        config = env["pos.config"].browse(till["config_id"])
        if not config.current_session_id:
            till["session_id"] = _open_session(env, config, info["cashier_id"])
        else:
            till["session_id"] = config.current_session_id.id
    # Nothing of an earlier run may reach this run's simulator.
    env.cr.execute(
        """UPDATE pos_order SET crmcom_state = 'failed', crmcom_next_attempt_at = NULL
            WHERE crmcom_state IN ('pending', 'cancel_pending', 'refund_pending')"""
    )
    info["stale_orders_dequeued"] = env.cr.rowcount
    first = env["pos.config"].browse(info["tills"][0]["config_id"])
    info["redemption_product_id"] = first.crmcom_redemption_product_id.id
    info["cron_id"] = env.ref("pos_crmcom_rewards.ir_cron_crmcom_submit").id
    kept = {key: value for key, value in info.items() if key != "stale_orders_dequeued"}
    ICP.set_param(INFO_KEY, json.dumps(kept))
    return info


def main():
    conf, db, task = sys.argv[1:4]
    odoo.tools.config.parse_config(["-c", conf, "--log-level=warn"])
    registry = Registry(db)
    if task == "setup":
        with registry.cursor() as cr:
            info = setup(_env(cr), sys.argv[4], int(sys.argv[5]))
            cr.commit()
        print(json.dumps(info))
    else:
        raise SystemExit(f"unknown task {task}")


if __name__ == "__main__":
    main()
