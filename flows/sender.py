"""The sender: paid sales are queued as they are paid (never waiting for CRM.COM) and
sent by Odoo's cron right after the commit, several requests in flight, exactly once
(README › Design: row locks, SKIP LOCKED, the in-flight lease, the attempt journal).
"""

import contextlib
import dataclasses
import datetime
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from odoo import fields
from odoo.tools import SQL, format_amount

from ..crmcom import BACK_END_REDUCTION, CrmcomConfigurationError, CrmcomError
from . import cancellation
from . import purchase as purchases
from . import refund as refunds_flow
from .errors import CrmcomOrderError
from .messages import describe_error, notification

_logger = logging.getLogger(__name__)

# Orders handled per transaction, per request allowed in flight: four rounds of
# requests, so that a chunk's fixed work (claim, two commits, call log) is spread
# over more orders; still few enough that a refund synced meanwhile (which does not
# wait for the order it refunds) is applied soon after (0.2 s held at 50 ms a call).
CHUNK_PER_REQUEST = 4
# A run of the cron claims no new chunk after this long (seconds), and wakes itself
# up again: a slow CRM.COM never keeps one run near the cron's time limit.
SEND_BUDGET = 30
# A refund whose original order is still held elsewhere is looked at again after this.
REFUND_RECHECK = datetime.timedelta(seconds=10)
PAID_STATES = ("paid", "done", "invoiced")
# While the sender runs, a thread whose CRM.COM answer has come takes Python's lock
# from the thread preparing the next chunk within this (seconds), not Python's 5 ms:
# every request in flight was waiting that long for its answer to be read.
THREAD_SWITCH_INTERVAL = 0.0005


# ------------------------------------------------------------------ payment


def queue_paid(orders):
    """Queue the purchase of every paid sale to a CRM.COM customer at a till with
    rewards on; check the paid order against what CRM.COM holds; apply refunds. The
    sender runs right after this transaction commits: the sale never waits for
    CRM.COM. Each order once: paying it again (a public method) changes nothing."""
    orders = orders.filtered(
        lambda order: not order.crmcom_paid_checked and order.state in PAID_STATES
    )
    if not orders:
        return orders
    orders.crmcom_paid_checked = True
    paid = orders.filtered(lambda order: not order.lines.refunded_orderline_id)
    sales = paid.filtered(
        lambda order: order.amount_total > 0
        and order.partner_id._crmcom_linked_to(order.company_id)
        and order.config_id._crmcom_active()
    )
    # A till request that died after calling CRM.COM: its purchase is looked up,
    # and a purchase it may have spent on is sent again (exactly once).
    recovered = sales._crmcom_lock_and_recover()
    replaced = cancellation.replace_after_lost_spends(sales)
    replaced |= check_paid(paid - replaced)
    to_send = sales.filtered(lambda order: order.crmcom_state == "none")
    if to_send:
        to_send.write({"crmcom_state": "pending", "crmcom_next_attempt_at": fields.Datetime.now()})
    if to_send or recovered or replaced:
        orders._crmcom_wake_sender()
    refunds = orders - paid
    refunds_flow.check_redemption_share(refunds)
    refunds_flow.apply(refunds)
    return to_send


def check_paid(orders):
    """Invariant "server decides", at payment: the paid order against what CRM.COM
    holds. A basket changed since its purchase, or a redemption line below what
    CRM.COM spent, has its purchase replaced (cancelled, then the order sent again,
    spending at most the redemption confirmed); a redemption line above what CRM.COM
    confirmed is never spent after the sale. Each is written to the order's CRM.COM
    check. Returns the orders replaced."""
    env = orders.env
    replaced = orders.browse()
    for order in orders:
        currency = order.currency_id
        given = order._crmcom_redemption_given()
        allowed = order.crmcom_redemption_allowed

        def money(amount, currency=currency):
            return format_amount(env, amount, currency)

        messages = []
        has_purchase = order.crmcom_state == "sent" and bool(order.crmcom_purchase_id)
        replace = False
        if has_purchase and order._crmcom_basket_changed():
            replace = True
            messages.append(
                env._(
                    "The order was paid with other items, amounts or customer than the"
                    " purchase CRM.COM holds: that purchase is cancelled and the order"
                    " sent again as paid."
                )
            )
        elif has_purchase and currency.compare_amounts(given, order.crmcom_redemption_amount) < 0:
            replace = True
            messages.append(
                env._(
                    "The till deducted %(given)s of CRM.COM rewards but CRM.COM spent"
                    " %(spent)s: the purchase is cancelled and the order sent again, so"
                    " that the wallet keeps the difference.",
                    given=money(given),
                    spent=money(order.crmcom_redemption_amount),
                )
            )
        if currency.compare_amounts(given, allowed) > 0:
            messages.append(
                env._(
                    "The till deducted %(given)s of CRM.COM rewards, but CRM.COM"
                    " confirmed %(allowed)s: %(gap)s was given without rewards, and is"
                    " not spent in CRM.COM after the sale.",
                    given=money(given),
                    allowed=money(allowed),
                    gap=money(given - allowed),
                )
            )
        if not messages:
            continue
        _logger.warning("Order %s: %s", order.pos_reference, " ".join(messages))
        order.crmcom_warning = order._crmcom_joined_warning(*messages)
        if replace:
            replaced |= order
    cancellation.replace_later(replaced)
    return replaced


# ---------------------------------------------------------------- the cron


def send_due(orders_model, batch_size, *, commit):
    """Handle up to ``batch_size`` due orders, oldest first, in chunks (one
    transaction each) whose purchases are sent in parallel. Returns how many.

    Pipelined, so that the requests in flight never wait for the database: chunk
    k+1 is claimed, its attempts committed and its requests queued on a cursor of
    its own while chunk k's requests are in flight, then chunk k's answers are
    stored and committed on its cursor. Each chunk keeps every rule of one (README
    › Design), and at most two are open: one whose answers are awaited, one being
    prepared. With ``commit`` false (tests), both share the caller's transaction."""
    handled = 0
    parallel = orders_model.env["res.company"]._crmcom_parallel_requests()
    deadline = time.monotonic() + SEND_BUDGET
    started = 0
    exhausted = False
    in_flight = []  # chunks whose requests are queued or in flight, oldest first
    with (
        _quick_thread_switches(),
        ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="crmcom-send") as pool,
        _two_environments(orders_model, commit) as models,
    ):
        try:
            # Each turn starts a chunk or finishes one: at most two per order claimed.
            while True:
                chunk = None
                if not exhausted and handled < batch_size and time.monotonic() < deadline:
                    limit = min(parallel * CHUNK_PER_REQUEST, batch_size - handled)
                    # Never the environment of the chunk in flight: it holds that
                    # chunk's rows until its answers are stored.
                    chunk = _start_chunk(
                        models[started % 2],
                        limit,
                        pool,
                        commit=commit,
                        held_here=set(in_flight[0].orders.ids) if in_flight else set(),
                    )
                    exhausted = chunk is None
                if chunk is not None:
                    started += 1
                    handled += len(chunk.orders)
                    in_flight.append(chunk)
                if not in_flight:
                    break
                if chunk is None or len(in_flight) > 1:
                    _finish_chunk(in_flight.pop(0), commit=commit)
        finally:
            # A chunk that could not start (or finish) leaves the other one's
            # answers to be stored all the same; what is lost is looked up later.
            while in_flight:
                _finish_chunk(in_flight.pop(0), commit=commit)
    if not exhausted and handled < batch_size:
        orders_model._crmcom_wake_sender()  # out of time, not of orders
    return handled


_switches_lock = threading.Lock()
_switches = {"senders": 0, "interval": None}


@contextlib.contextmanager
def _quick_thread_switches():
    """THREAD_SWITCH_INTERVAL for the process while at least one sender runs in it
    (a cron worker may run several), then Python's interval as it was."""
    with _switches_lock:
        if not _switches["senders"]:
            _switches["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(min(THREAD_SWITCH_INTERVAL, _switches["interval"]))
        _switches["senders"] += 1
    try:
        yield
    finally:
        with _switches_lock:
            _switches["senders"] -= 1
            if not _switches["senders"]:
                sys.setswitchinterval(_switches["interval"])


@contextlib.contextmanager
def _two_environments(orders_model, commit):
    """``orders_model`` and the same model (user, context, flow marker) on a second
    cursor of its own, for the chunk prepared while the other one is in flight.
    Without ``commit`` (a test's single transaction), the same environment twice."""
    if not commit:
        yield (orders_model, orders_model)
        return
    with orders_model.env.registry.cursor() as cr:
        yield (orders_model, orders_model.with_env(orders_model.env(cr=cr)))


@dataclasses.dataclass
class _Chunk:
    """Due orders claimed in one transaction, their purchase requests queued."""

    orders: object  # pos.order, locked in the chunk's transaction
    sent: object  # pos.order whose requests were queued
    requests: dict  # Future -> pos.order
    calls: list  # (CallRecord, company, order, partner), appended by the workers


def _start_chunk(orders_model, limit, pool, *, commit, held_here):
    """Claim up to ``limit`` due orders on ``orders_model``'s cursor, apply waiting
    refunds and cancel purchases, count the attempts of the purchases to send
    (committed), lock their rows again and queue their requests on ``pool``.
    None when nothing is due. The cursor never waits for a row lock: the other
    chunk's rows (``held_here``: ids) are held by this very thread (SKIP LOCKED
    only)."""
    try:
        orders = claim_due(orders_model, limit)
        if not orders:
            return None
        refunds = orders.filtered(lambda order: order.crmcom_state == "refund_pending")
        if refunds:  # first: they may change what the others become
            _apply_waiting_refunds(refunds, held_here)
        for order in orders.filtered(lambda order: order.crmcom_state == "cancel_pending"):
            cancellation.cancel_purchase(order.with_company(order.company_id))
        due = orders.filtered(lambda order: order.crmcom_state == "pending")
        calls = []
        jobs = begin_attempts(due, calls=calls, commit=commit)
    except Exception:
        if commit:
            # Nothing half done stays held while the other chunk is finished.
            orders_model.env.cr.rollback()
        raise
    requests = {
        pool.submit(purchases.exchange_purchase, client, attempt): order
        for order, client, attempt in jobs
    }
    sent = orders.browse([order.id for order, _client, _attempt in jobs])
    return _Chunk(orders=orders, sent=sent, requests=requests, calls=calls)


def _finish_chunk(chunk, *, commit):
    """Store the answers of ``chunk`` as they come (its rows still locked), log its
    calls, do what follows the purchases, and commit its transaction."""
    try:
        store_answers(chunk.sent, chunk.requests, chunk.calls)
    except Exception:
        for future in chunk.requests:
            future.cancel()  # not sent yet: looked up anyway once the lease ends
        raise
    if commit:
        # One transaction per chunk: a refund never waits long for it.
        chunk.orders.env.cr.commit()  # pylint: disable=invalid-commit


def claim_due(orders_model, limit):
    """Lock and return up to ``limit`` due orders that no one else holds (a till
    request, a refund, a back-office Retry or another worker: they are skipped, not
    waited for)."""
    orders_model.flush_model(["crmcom_state", "crmcom_next_attempt_at", "state"])
    return orders_model._crmcom_lock_rows(
        SQL(
            # The states as one list: the index on them skips the sent orders (and
            # the dead versions a drain leaves behind) instead of reading them all.
            """SELECT id FROM pos_order
                WHERE crmcom_state IN ('pending', 'cancel_pending', 'refund_pending')
                  AND crmcom_next_attempt_at <= %(now)s
                  AND (crmcom_state != 'pending' OR state IN ('paid', 'done', 'invoiced'))
             ORDER BY crmcom_next_attempt_at, id
                LIMIT %(limit)s
                  FOR UPDATE SKIP LOCKED""",
            now=fields.Datetime.now(),
            limit=limit,
        )
    )


def _apply_waiting_refunds(refunds, held_here=frozenset()):
    """Refunds saved while their original order was being sent: applied now, or
    looked at again shortly if the original is still held. An original held by
    this sender's other chunk (``held_here``: ids) is free once that chunk is
    stored, before the next chunk is claimed: those refunds stay due."""
    waiting = refunds - refunds_flow.apply(refunds)
    waiting = waiting.filtered(
        lambda refund: not set(refund.lines.refunded_orderline_id.order_id.ids) & held_here
    )
    if waiting:
        later = fields.Datetime.now() + REFUND_RECHECK
        waiting.write({"crmcom_next_attempt_at": later})
        waiting._crmcom_wake_sender(at=later)


def begin_attempts(orders, *, calls, commit):
    """Count an attempt for each of ``orders`` (locked, due) and, with ``commit``,
    commit them and lock the rows again. Returns [(order, client, attempt)] of those
    to send now; ``calls`` collects the workers' call records."""
    env = orders.env
    jobs = []
    orders._crmcom_recover()
    for order in orders:
        order = order.with_company(order.company_id)
        try:
            client, attempt = purchases.begin_attempt(order, calls=calls)
        except (CrmcomOrderError, CrmcomConfigurationError) as error:
            order.write(purchases.failure_values(order, error))
            continue
        jobs.append((order, client, attempt, order.crmcom_attempts))
    if commit and jobs:
        # Exactly once: the attempts are on record before CRM.COM is called, so a
        # worker that dies after CRM.COM applied them leads to lookups, not resends.
        env.cr.commit()  # pylint: disable=invalid-commit
        # Locked again until the answers are stored. An order someone took or
        # changed in between (a refund, say) is left alone: its attempt is counted,
        # so whoever sends it next looks it up first.
        held = orders._crmcom_lock_unless_busy()
        jobs = [
            job
            for job in jobs
            if job[0] in held
            and job[0].crmcom_state == "pending"
            and job[0].crmcom_attempts == job[3]
        ]
    return [(order, client, attempt) for order, client, attempt, _attempts in jobs]


def store_answers(sent, requests, calls):
    """Store the answers of ``requests`` ({Future: order}) as they come, log the
    ``calls``, then what follows the purchases of ``sent``."""
    if not requests:
        return
    outdated = sent.browse()
    for future in as_completed(requests):
        order = requests[future]
        try:
            result, is_outdated = future.result()
        except CrmcomError as error:
            order.write(purchases.failure_values(order, error))
            continue
        purchases.store_purchase(order, result)
        if is_outdated:
            outdated |= order
    sent.env["crmcom.call.log"]._record_calls(calls)
    cancellation.replace_later(outdated)
    after_purchase(sent.filtered(lambda order: order.crmcom_state == "sent"))


def send_now(order):
    """Send ``order``'s purchase to CRM.COM now, exactly once (the back office's
    Retry). Returns True when the order has its purchase in CRM.COM. The order row
    is locked meanwhile, so no worker sends the same order at the same time."""
    order.ensure_one()
    order._crmcom_lock_and_recover()
    if order.crmcom_purchase_id or order.crmcom_state not in ("pending", "failed"):
        return bool(order.crmcom_purchase_id)
    try:
        _result, outdated = purchases.send_purchase(order)
    except (CrmcomError, CrmcomOrderError) as error:
        order.write(purchases.failure_values(order, error))
        return False
    if outdated:
        cancellation.replace_later(order)
    else:
        after_purchase(order)
    return True


def retry(orders):
    """The back office's Retry of failed orders (in the flow environment): each sent
    now, exactly once. Returns the notification that says how it went."""
    env = orders.env
    if not orders:
        return notification(
            False, env._("No failed CRM.COM submission among these orders."), "warning"
        )
    sent = sum(1 for order in orders if send_now(order))
    if sent < len(orders):
        return notification(
            env._("CRM.COM submission"),
            env._(
                "%(sent)s order(s) sent, %(failed)s still failing: see the CRM.COM tab.",
                sent=sent,
                failed=len(orders) - sent,
            ),
            "warning",
        )
    return notification(
        env._("CRM.COM submission"), env._("%(sent)s order(s) sent.", sent=sent), "success"
    )


# -------------------------------------------------------- after the purchase


def after_purchase(orders):
    """What follows purchases sent after the sale: the kept redemption is spent, and
    the receipt figures are completed for reprints. A purchase that a lost spend
    request may have touched is sent again instead."""
    replaced = cancellation.replace_after_lost_spends(orders)
    # Only a redemption deducted at the till is spent after the sale: most orders
    # have none, and are spared the figures below.
    for order in (orders - replaced).filtered(lambda order: order._crmcom_redemption_lines()):
        _spend_redemption_kept(order)
    _receipt_figures(orders)


def _spend_redemption_kept(order):
    """A paid order's purchase sent after the sale (offline till, or the new purchase
    after a partial refund): spend the redemption the till deducted and the customer
    keeps, less what CRM.COM spent by itself on the purchase. A spend that fails is
    written on the order for the back office; the purchase stays."""
    env = order.env
    currency = order.currency_id
    if order.crmcom_reduction_method == BACK_END_REDUCTION:
        return  # CRM.COM redeems by itself (and refunds through its gateway)
    wanted = order._crmcom_redemption_to_keep()
    if order.state == "draft" or currency.compare_amounts(wanted, 0) <= 0:
        return  # no deduction at the till: nothing to spend
    automatic = order.crmcom_instant_spend_amount + order.crmcom_automatic_spend_amount
    due = currency.round(wanted - automatic)
    message = False
    if currency.compare_amounts(due, 0) > 0:
        try:
            purchases.send_spend(order, purchases.decimal(due, currency))
        except CrmcomError as error:
            message = env._(
                "The till deducted %(amount)s of CRM.COM rewards, but CRM.COM did not confirm"
                " spending it: %(problem)s",
                amount=format_amount(env, due, currency),
                problem=describe_error(env, error),
            )
        else:
            spent = order.crmcom_additional_spend_amount
            if currency.compare_amounts(spent, due) < 0:
                message = env._(
                    "CRM.COM spent %(spent)s of the %(due)s of rewards the till deducted.",
                    spent=format_amount(env, spent, currency),
                    due=format_amount(env, due, currency),
                )
    elif currency.compare_amounts(due, 0) < 0:
        message = env._(
            "CRM.COM spent %(amount)s more of the wallet than the till deducted.",
            amount=format_amount(env, -due, currency),
        )
    order.write(
        {
            "crmcom_redemption_amount": order._crmcom_redemption(),
            "crmcom_warning": order._crmcom_joined_warning(message),
        }
    )


def _receipt_figures(orders):
    """For a reprint of an order sent after the sale: the reduction method and the
    wallet before come from the till's last preview of the order (guide, advanced
    flow); wallet after = before + awarded - spent."""
    orders = orders.filtered(
        lambda order: not order.crmcom_sequence and not order.crmcom_reduction_method
    )
    if not orders:
        return
    previews = {}
    for preview in (
        orders.env["crmcom.till.preview"]
        .sudo()
        .search([("order_uuid", "in", orders.mapped("uuid"))])
    ):  # newest first
        previews.setdefault((preview.order_uuid, preview.partner_id), preview)
    for order in orders:
        preview = previews.get((order.uuid, order.partner_id))
        if preview:
            back_end = preview.reduction_method == BACK_END_REDUCTION
            order.write(
                {
                    "crmcom_reduction_method": preview.reduction_method,
                    "crmcom_wallet_before": preview.wallet_balance,
                    "crmcom_wallet_after": preview.wallet_balance
                    + order.crmcom_awarded_amount
                    - order._crmcom_spent(),
                    # The till deducted nothing: CRM.COM refunds what it spent.
                    "crmcom_redemption_amount": 0.0 if back_end else order.crmcom_redemption_amount,
                }
            )
