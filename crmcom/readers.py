"""Tolerant readers of CRM.COM answers.

CRM.COM releases, its documentation and the integration guide do not always agree on
field names (``total_award_amount`` vs ``total_awarded_amount``,
``spend_reward_transaction.amount`` vs ``.total_amount``); readers accept each
spelling, missing objects and numbers sent as strings, and never invent an amount.
"""

from dataclasses import asdict, dataclass
from decimal import Decimal

from .errors import CrmcomAnswerError
from .payloads import round_money

FRONT_END_REDUCTION = "FRONT_END_REDUCTION"
BACK_END_REDUCTION = "BACK_END_REDUCTION"


def _get(obj, *path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def read_amount(obj, *names, default=None):
    """The first of ``names`` (dotted paths allowed) holding a number, as a Decimal
    rounded to cents; ``default`` when none does."""
    for name in names:
        value = _get(obj, *name.split("."))
        if value is None or value == "" or isinstance(value, bool):
            continue
        try:
            return round_money(value)
        except ValueError:
            continue
    return default


def _text(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def participant_name(participant):
    """The name to show for a rewards participant (the guide's
    ``accounts_receivable.account_owner.name``, which is null for persons in practice)."""
    owner = _get(participant, "accounts_receivable", "account_owner") or {}
    name = _text(owner.get("name")) if isinstance(owner, dict) else None
    if not name and isinstance(owner, dict):
        person = " ".join(
            filter(None, (_text(owner.get("first_name")), _text(owner.get("last_name"))))
        )
        name = _text(person) or _text(owner.get("company_name"))
    if not name:
        account_name = _text(_get(participant, "accounts_receivable", "name"))
        account_number = _text(_get(participant, "accounts_receivable", "number"))
        if account_name and account_number and account_name.startswith(account_number):
            account_name = _text(account_name[len(account_number) :])
        name = account_name
    return name or _text(_get(participant, "name")) or _text(_get(participant, "number"))


@dataclass(frozen=True)
class Participant:
    id: str | None
    number: str | None
    name: str | None
    life_cycle_state: str | None
    account_id: str | None
    account_number: str | None
    account_state: str | None
    wallet_balance: Decimal | None
    currency: str | None
    spending_blocked: bool

    @property
    def is_effective(self):
        return (self.life_cycle_state or "EFFECTIVE").upper() == "EFFECTIVE" and (
            self.account_state or "ACTIVE"
        ).upper() == "ACTIVE"

    def to_dict(self):
        return asdict(self)


def read_participant(data):
    if not isinstance(data, dict):
        raise CrmcomAnswerError("the rewards participant answer is not an object")
    currency = _get(data, "wallet", "currency")
    if isinstance(currency, dict):
        currency = currency.get("code")
    if not isinstance(currency, str):
        currency = (
            _get(data, "currency", "code") if isinstance(data.get("currency"), dict) else None
        )
    blocking = data.get("spend_blocking_state")
    if isinstance(blocking, dict):
        blocking = blocking.get("state") or blocking.get("name")
    return Participant(
        id=_text(data.get("id")),
        number=_text(data.get("number")),
        name=participant_name(data),
        life_cycle_state=_text(data.get("life_cycle_state")),
        account_id=_text(_get(data, "accounts_receivable", "id")),
        account_number=_text(_get(data, "accounts_receivable", "number")),
        account_state=_text(_get(data, "accounts_receivable", "life_cycle_state")),
        wallet_balance=read_amount(data, "wallet.balance", "wallet_balance"),
        currency=currency,
        spending_blocked=isinstance(blocking, str) and blocking.upper() == "BLOCKED",
    )


@dataclass(frozen=True)
class Preview:
    reduction_method: str
    award_amount: Decimal
    instant_spend_amount: Decimal
    automatic_spend_amount: Decimal
    additional_spend_amount: Decimal
    minimum_spend_amount: Decimal | None
    maximum_spend_amount: Decimal | None
    wallet_balance: Decimal | None
    allow_spending: bool
    participant_id: str | None
    participant_name: str | None

    @property
    def automatic_redemption(self):
        """What is spent without being asked (instant + automatic)."""
        return self.instant_spend_amount + self.automatic_spend_amount

    @property
    def front_end(self):
        return self.reduction_method == FRONT_END_REDUCTION

    def to_dict(self):
        return asdict(self)


def read_reduction_method(data):
    method = _text(_get(data, "reduction_method"))
    if method and method.upper().startswith("BACK"):
        return BACK_END_REDUCTION
    return FRONT_END_REDUCTION  # documented default


def read_preview(data):
    if not isinstance(data, dict):
        raise CrmcomAnswerError("the purchase preview answer is not an object")
    zero = Decimal(0)
    allow = data.get("allow_spending")
    return Preview(
        reduction_method=read_reduction_method(data),
        award_amount=read_amount(data, "total_award_amount", "total_awarded_amount", default=zero),
        instant_spend_amount=read_amount(data, "total_instant_spend_amount", default=zero),
        automatic_spend_amount=read_amount(data, "total_automatic_spend_amount", default=zero),
        additional_spend_amount=read_amount(data, "total_additional_spend_amount", default=zero),
        minimum_spend_amount=read_amount(data, "minimum_spend_amount_per_transaction"),
        maximum_spend_amount=read_amount(data, "maximum_spend_amount_per_transaction"),
        wallet_balance=read_amount(data, "wallet_balance"),
        allow_spending=True if allow is None else bool(allow),
        participant_id=_text(data.get("rewards_participant_id")),
        participant_name=_text(data.get("rewards_participant_name")),
    )


@dataclass(frozen=True)
class PurchaseResult:
    """A purchase as CRM.COM answered it. ``additional_spend_amount`` (spent by spend
    requests) is ``total_additional_spend_amount`` when the answer has it (the name is
    inferred, not documented), else the documented ``total_spend_amount −
    total_instant_spend_amount − total_automatic_spend_amount``."""

    id: str | None
    number: str | None
    reference_number: str | None
    life_cycle_state: str | None
    award_amount: Decimal
    instant_spend_amount: Decimal
    automatic_spend_amount: Decimal
    additional_spend_amount: Decimal
    total_spend_amount: Decimal
    total_amount: Decimal | None = None  # None when the answer leaves it out

    @property
    def automatic_redemption(self):
        return self.instant_spend_amount + self.automatic_spend_amount

    @property
    def is_posted(self):
        return (self.life_cycle_state or "POSTED").upper() == "POSTED"

    def to_dict(self):
        return asdict(self)


def _posted_sum(transactions):
    total = Decimal(0)
    for item in transactions if isinstance(transactions, list) else ():
        state = _text(_get(item, "life_cycle_state")) or "POSTED"
        if state.upper() == "POSTED":
            total += read_amount(item, "amount", "total_amount", default=Decimal(0))
    return total


def read_purchase(data):
    if not isinstance(data, dict):
        raise CrmcomAnswerError("the purchase answer is not an object")
    zero = Decimal(0)
    award = read_amount(data, "total_awarded_amount", "total_award_amount")
    if award is None:
        award = _posted_sum(data.get("award_reward_transactions_set"))
    instant = read_amount(data, "total_instant_spend_amount", default=zero)
    automatic = read_amount(data, "total_automatic_spend_amount", default=zero)
    additional = read_amount(data, "total_additional_spend_amount")
    total_spend = read_amount(data, "total_spend_amount")
    if additional is None:
        # The field's name is inferred: the documented definition of the total
        # (instant + automatic + additional) tells the additional spend without it.
        additional = max(zero, total_spend - instant - automatic) if total_spend else zero
    if total_spend is None:
        total_spend = instant + automatic + additional
    return PurchaseResult(
        id=_text(data.get("id")),
        number=_text(data.get("number")),
        reference_number=_text(data.get("reference_number")),
        life_cycle_state=_text(data.get("life_cycle_state")),
        award_amount=award,
        instant_spend_amount=instant,
        automatic_spend_amount=automatic,
        additional_spend_amount=additional,
        total_spend_amount=total_spend,
        total_amount=read_amount(data, "total_amount"),
    )


@dataclass(frozen=True)
class SpendResult:
    id: str | None
    number: str | None
    requested_amount: Decimal | None
    spent_amount: Decimal
    reduction_method: str
    life_cycle_state: str | None

    def to_dict(self):
        return asdict(self)


def read_spend_request(data):
    """The amount really spent is the spend reward transaction's (``total_amount`` in
    the guide, ``amount`` in the reference); the asked ``spend_amount`` is never taken
    for it. An answer without that transaction is rejected."""
    if not isinstance(data, dict):
        raise CrmcomAnswerError("the spend request answer is not an object")
    spent = read_amount(
        data,
        "spend_reward_transaction.total_amount",
        "spend_reward_transaction.amount",
    )
    if spent is None:
        raise CrmcomAnswerError("the spend request answer does not say how much was spent")
    return SpendResult(
        id=_text(data.get("id")),
        number=_text(data.get("number")),
        requested_amount=read_amount(data, "spend_amount"),
        spent_amount=spent,
        reduction_method=read_reduction_method(data),
        life_cycle_state=_text(data.get("life_cycle_state")),
    )
