"""What a till sends to ``pos.order.sync_from_ui``, as point_of_sale's
TestPoSCommon.create_ui_order_data builds it, without taxes, and the lines of its
rewards previews: shared by the benchmark (bench/run.py, bench/profiling.py) and the
soak's tills (bench/soak.py)."""

import os
from datetime import datetime, timezone


def order_line(product_id, qty, price, **extra):
    """A create command of one order line; ``extra`` adds or overrides fields."""
    return [
        0,
        0,
        {
            "id": int.from_bytes(os.urandom(3), "big"),
            "pack_lot_ids": [],
            "price_unit": price,
            "product_id": product_id,
            "price_subtotal": round(price * qty, 2),
            "price_subtotal_incl": round(price * qty, 2),
            "qty": qty,
            "tax_ids": [[6, 0, []]],
            "discount": 0.0,
            **extra,
        },
    ]


def preview_line(product_id, qty, price):
    """A line of ``pos.config.crmcom_preview_order``'s order, without taxes."""
    amount = round(price * qty, 2)
    return {
        "product_id": product_id,
        "qty": qty,
        "price_subtotal": amount,
        "price_subtotal_incl": amount,
    }


def sync_payload(till, cashier_id, uid, partner_id, lines, state, *, name=None, sequence=1):
    """The order ``uid`` of ``till`` (its session_id, pricelist_id, cash_pm_id),
    paid in cash unless ``state`` is draft. ``lines``: line commands; the total is
    that of the create commands among them."""
    total = round(sum(line[2]["price_subtotal_incl"] for line in lines if line[0] == 0), 2)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    payments = (
        []
        if state == "draft"
        else [[0, 0, {"amount": total, "name": now, "payment_method_id": till["cash_pm_id"]}]]
    )
    return {
        "amount_paid": total if state != "draft" else 0,
        "amount_return": 0,
        "amount_tax": 0,
        "amount_total": total,
        "date_order": now,
        "fiscal_position_id": False,
        "pricelist_id": till["pricelist_id"],
        "name": name or f"Order {uid}",
        "last_order_preparation_change": "{}",
        "lines": lines,
        "partner_id": partner_id or False,
        "session_id": till["session_id"],
        "sequence_number": sequence,
        "payment_ids": payments,
        "uuid": uid,
        "user_id": cashier_id,
        "to_invoice": False,
        "state": state,
    }
