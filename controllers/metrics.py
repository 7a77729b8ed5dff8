"""The monitoring route: CRM.COM figures for Prometheus (README, "Operations").

``GET /pos_crmcom_rewards/metrics`` with ``Authorization: Bearer <API key>`` of a user
in "CRM.COM monitoring" (or an administrator) answers in the Prometheus text
exposition format 0.0.4. No key, or a wrong one: 401 (Odoo's bearer
authentication). A valid key of anyone else (a cashier, a POS manager): 403.

Labels are CRM.COM states, operation names and outcomes (``OK`` or an error code)
only: no customer, partner, order reference, token or address. The figures come
from ``crmcom.metrics._collect`` (models/crmcom_metrics.py): a few indexed,
aggregated queries.
"""

from odoo import http
from odoo.http import request

ROUTE = "/pos_crmcom_rewards/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MONITORING_GROUP = "pos_crmcom_rewards.group_crmcom_monitoring"


class CrmcomMetrics(http.Controller):
    # readonly: served by a read-only replica where one is configured.
    # save_session=False: a scraper gets no session (nor cookie) per scrape.
    @http.route(
        ROUTE,
        type="http",
        auth="bearer",
        methods=["GET"],
        readonly=True,
        save_session=False,
    )
    def crmcom_metrics(self):
        user = request.env.user
        if not (user._is_system() or user.has_group(MONITORING_GROUP)):
            return request.make_response(
                "Forbidden: the CRM.COM figures are for the group CRM.COM monitoring and"
                " administrators.\n",
                headers=[("Content-Type", "text/plain; charset=utf-8")],
                status=403,
            )
        figures = request.env["crmcom.metrics"].sudo()._collect()
        return request.make_response(
            exposition(figures),
            headers=[("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store")],
        )


# ---------------------------------------------------------------- exposition


def exposition(figures):
    """``figures`` (``crmcom.metrics._collect``) in the Prometheus text format."""
    window = figures["window"]
    families = [
        _family(
            "crmcom_orders",
            "gauge",
            "POS orders per CRM.COM state CRM.COM work is open for (not 'none',"
            " 'sent' nor 'cancelled').",
            [({"state": state}, count) for state, count in sorted(figures["orders"].items())],
        ),
        _family(
            "crmcom_orders_sent_recent",
            "gauge",
            f"POS orders whose purchase CRM.COM took in the last {window} s.",
            [({}, figures["sent"])],
        ),
        _family(
            "crmcom_orders_failed",
            "gauge",
            "POS orders whose CRM.COM submission failed (for the back office to retry).",
            [({}, figures["orders"].get("failed", 0))],
        ),
        _family(
            "crmcom_refunds_waiting",
            "gauge",
            "Refunds waiting for the sender to apply them to their original's purchase"
            " (state refund_pending).",
            [({}, figures["orders"].get("refund_pending", 0))],
        ),
        _family(
            "crmcom_backlog_oldest_age_seconds",
            "gauge",
            "Age of the oldest order the sender has to do, per state: since the first"
            " attempt at its purchase, else since the order was created (0: none waiting).",
            [
                ({"state": state}, age)
                for state, age in sorted(figures["backlog_oldest_age"].items())
            ],
        ),
        _family(
            "crmcom_backlog_overdue_seconds",
            "gauge",
            "How long ago the most overdue order of the backlog was due for its next"
            " attempt (0: the sender is keeping up).",
            [({}, figures["backlog_overdue"])],
        ),
        _family(
            "crmcom_window_seconds",
            "gauge",
            "Length of the window of the *_recent metrics and of the call latency summary.",
            [({}, window)],
        ),
        _family(
            "crmcom_calls_recent",
            "gauge",
            f"CRM.COM calls of the last {window} s per operation and outcome"
            " (OK or the error code).",
            [
                ({"operation": operation, "outcome": outcome}, count)
                for (operation, outcome), count in sorted(figures["calls"].items())
            ],
        ),
        _family(
            "crmcom_logins_recent",
            "gauge",
            f"CRM.COM logins (token requests) of the last {window} s per outcome.",
            [({"outcome": outcome}, count) for outcome, count in sorted(figures["logins"].items())],
        ),
        _family(
            "crmcom_call_duration_seconds",
            "summary",
            f"Duration of the CRM.COM calls of the last {window} s per operation"
            " (quantiles, sum and count over that window).",
            _summary_samples(figures["latency"]),
        ),
    ]
    if figures["last_success"] is not None:
        families.append(
            _family(
                "crmcom_last_success_timestamp_seconds",
                "gauge",
                "Unix time of the last successful CRM.COM call (absent: none in the call log).",
                [({}, figures["last_success"])],
            )
        )
    families.append(
        _family(
            "crmcom_metrics_collect_seconds",
            "gauge",
            "Time the database took to compute these figures.",
            [({}, figures["collect_seconds"])],
        )
    )
    return "".join(families)


def _summary_samples(latency):
    samples = []
    for operation, summary in sorted(latency.items()):
        for quantile, seconds in summary["quantiles"].items():
            samples.append(({"operation": operation, "quantile": _number(quantile)}, seconds))
        samples.append(({"operation": operation}, summary["sum"], "_sum"))
        samples.append(({"operation": operation}, summary["count"], "_count"))
    return samples


def _family(name, kind, help_text, samples):
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
    for sample in samples:
        labels, value = sample[:2]
        suffix = sample[2] if len(sample) > 2 else ""
        lines.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _labels(labels):
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape_label(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
