"""The figures of the monitoring route (``controllers/metrics.py``, README "Operations").

A handful of aggregated SQL queries, each served by an index of its own, so that a
scrape costs about the same on 100 or 100,000 orders: never an ORM loop, never a
scan of the order table or of the whole call log. Their cost follows the backlog
and the calls of the last minutes, not the history: the orders that are done with
CRM.COM (sent, cancelled) are not counted, the purchases sent lately are. The
figures are database-wide (every company) and carry no customer data: states,
operation names, outcomes (``OK`` or an error code) and numbers only.
"""

import re
import time

from odoo import api, models
from odoo.tools import SQL

# The calls counted, and whose latency is summed up, are those of the last
# WINDOW_SECONDS (by the call log's create_date); so are the purchases sent.
WINDOW_SECONDS = 300
QUANTILES = (0.5, 0.95, 0.99)
# The states of an order that CRM.COM work is still open for (models/pos_order.py,
# CRMCOM_STATES): counted. "sent" and "cancelled" are where orders end: their
# totals grow with the history and would cost a scan of it at each scrape.
REPORTED_STATES = ("pending", "failed", "cancel_pending", "refund_pending")
BACKLOG_STATES = ("pending", "cancel_pending", "refund_pending")
# Logins are these calls (the token release is a logout: it is not counted).
LOGIN_OPERATIONS = ("authentication/web_api_key/token", "authentication/token")
# Label values are operation names and error codes: anything else (a code CRM.COM
# made up with spaces or quotes in it, an overlong one) is reported as OTHER.
LABEL_VALUE = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")


def label_value(value):
    return value if value and LABEL_VALUE.fullmatch(value) else "OTHER"


# The queries, by the index that serves each (tests/test_metrics.py checks the plans).
# pos_order_crmcom_metrics_open_idx
ORDERS_PER_STATE = SQL(
    """SELECT crmcom_state, count(*) FROM pos_order
        WHERE crmcom_state IN ('pending', 'failed', 'cancel_pending', 'refund_pending')
     GROUP BY crmcom_state"""
)
# The sender's backlog, as it claims it (flows/sender.claim_due): a pending
# draft waits for its payment, not for the sender. Waiting since: the first attempt
# at the order's purchase, else the order's creation (an order not tried yet).
# Overdue: how long ago the most overdue order was due (its next attempt), i.e. how
# far the sender is behind. pos_order_crmcom_metrics_open_idx, index only (written
# as an IN list AND the rest, PostgreSQL proves the index's condition from it; as
# an OR of states, it does not).
BACKLOG = SQL(
    """SELECT crmcom_state,
              EXTRACT(EPOCH FROM now() AT TIME ZONE 'UTC'
                      - min(COALESCE(crmcom_first_attempt_at, create_date))),
              EXTRACT(EPOCH FROM now() AT TIME ZONE 'UTC' - min(crmcom_next_attempt_at))
         FROM pos_order
        WHERE crmcom_state IN ('pending', 'cancel_pending', 'refund_pending')
          AND (crmcom_state <> 'pending' OR state IN ('paid', 'done', 'invoiced'))
     GROUP BY crmcom_state"""
)
# crmcom_call_log_metrics_success_idx
LAST_SUCCESS = SQL("SELECT EXTRACT(EPOCH FROM max(create_date)) FROM crmcom_call_log WHERE success")


def _since(window):
    return SQL("(now() AT TIME ZONE 'UTC') - make_interval(secs => %s)", window)


def sent_query(window):
    """Orders whose purchase CRM.COM took in the last ``window`` seconds
    (pos_order__crmcom_sent_at_index)."""
    return SQL("SELECT count(*) FROM pos_order WHERE crmcom_sent_at >= %s", _since(window))


def calls_query(window):
    """Calls of the last ``window`` seconds per operation and outcome
    (crmcom_call_log_metrics_recent_idx)."""
    return SQL(
        """SELECT operation, outcome, count(*) FROM crmcom_call_log
            WHERE create_date >= %s
         GROUP BY operation, outcome""",
        _since(window),
    )


def latency_query(window):
    """Durations of the calls of the last ``window`` seconds per operation: count,
    sum and QUANTILES, in ms (crmcom_call_log_metrics_recent_idx)."""
    return SQL(
        """SELECT operation, count(duration_ms), COALESCE(sum(duration_ms), 0),
                  percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY duration_ms::float8)
             FROM crmcom_call_log
            WHERE create_date >= %s
         GROUP BY operation""",
        list(QUANTILES),
        _since(window),
    )


class CrmcomMetrics(models.AbstractModel):
    _name = "crmcom.metrics"
    _description = "CRM.COM monitoring figures"

    @api.model
    def _collect(self, window=WINDOW_SECONDS):
        """The figures, as plain Python values (controllers/metrics.py exposes them).
        Times are PostgreSQL's (the transaction's start, UTC), the clock the call
        log and the orders' timestamps are written with."""
        started = time.perf_counter()
        cr = self.env.cr
        self.env.flush_all()

        cr.execute(ORDERS_PER_STATE)
        orders = dict.fromkeys(REPORTED_STATES, 0)
        orders.update(cr.fetchall())

        cr.execute(BACKLOG)
        oldest = dict.fromkeys(BACKLOG_STATES, 0.0)
        overdue = 0.0
        for state, age, late in cr.fetchall():
            oldest[state] = max(0.0, float(age or 0))
            overdue = max(overdue, float(late or 0))

        cr.execute(sent_query(window))
        sent = cr.fetchone()[0]

        cr.execute(calls_query(window))
        calls = {}
        for operation, outcome, count in cr.fetchall():
            key = (label_value(operation), label_value(outcome))
            calls[key] = calls.get(key, 0) + count
        logins = {"OK": 0}
        for (operation, outcome), count in calls.items():
            if operation in LOGIN_OPERATIONS:
                logins[outcome] = logins.get(outcome, 0) + count

        cr.execute(latency_query(window))
        latency = {}
        for operation, count, total_ms, quantiles_ms in cr.fetchall():
            if not count:
                continue
            total_ms = float(total_ms)  # duration_ms is a numeric column
            name = label_value(operation)
            if name in latency:  # odd operations, all reported as OTHER: no quantiles
                latency[name] = {
                    "count": latency[name]["count"] + count,
                    "sum": latency[name]["sum"] + total_ms / 1000.0,
                    "quantiles": {},
                }
                continue
            latency[name] = {
                "count": count,
                "sum": total_ms / 1000.0,
                "quantiles": {
                    q: ms / 1000.0 for q, ms in zip(QUANTILES, quantiles_ms, strict=True)
                },
            }

        cr.execute(LAST_SUCCESS)
        last_success = cr.fetchone()[0]
        return {
            "orders": orders,
            "sent": sent,
            "backlog_oldest_age": oldest,
            "backlog_overdue": overdue,
            "window": window,
            "calls": calls,
            "logins": logins,
            "latency": latency,
            "last_success": float(last_success) if last_success is not None else None,
            "collect_seconds": time.perf_counter() - started,
        }
