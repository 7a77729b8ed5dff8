"""The simulator's records: catalogue read from the scenario, and events it creates."""

from dataclasses import dataclass, field
from decimal import Decimal

from .money import ZERO, to_money

FRONT_END = "FRONT_END_REDUCTION"
BACK_END = "BACK_END_REDUCTION"
REDUCTION_METHODS = (FRONT_END, BACK_END)
POSTED = "POSTED"
CANCELLED = "CANCELLED"
EFFECTIVE = "EFFECTIVE"
TERMINATED = "TERMINATED"
ACTIVE = "ACTIVE"
BLOCKED = "BLOCKED"
UNBLOCKED = "UNBLOCKED"
ON_REQUEST = "ON_REQUEST"
INSTANTLY = "INSTANTLY"

# Kinds of spend request; the value is the spend_method of its spend reward transaction.
INSTANT = "SPEND_INSTANTLY"
AUTOMATIC = "SPEND_AUTOMATICALLY"
ADDITIONAL = "SPEND_ON_REQUEST"


class ScenarioError(ValueError):
    """The scenario file or dict is not usable."""


def _require(data, key, where):
    if data.get(key) in (None, ""):
        raise ScenarioError(f"{where}: '{key}' is required")
    return data[key]


def _choice(value, allowed, where):
    if value not in allowed:
        raise ScenarioError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def scenario_amount(value, where, default=None):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ScenarioError(f"{where}: {value!r} is not an amount")
    try:
        return to_money(value)
    except ArithmeticError as exc:
        raise ScenarioError(f"{where}: {value!r} is not an amount") from exc


@dataclass
class Unit:
    id: str
    name: str
    alternative_code: str | None
    reduction_method: str
    allow_automatic_spend: bool
    minimum_spend_per_transaction: Decimal
    maximum_spend_per_transaction: Decimal | None
    # Share of a purchase's total that spend requests may cover: the hidden
    # "additional spending conditions" that make a spend smaller than asked.
    max_spend_ratio: Decimal
    # CRM.COM set to spend the whole purchase whatever spend_amount says: a spend
    # request spends min(wallet, what the purchase still owes).
    spend_everything: bool = False

    @classmethod
    def from_dict(cls, data, defaults):
        where = f"unit {data.get('id')!r}"
        ratio = Decimal(str(data.get("max_spend_ratio", 1)))
        if not 0 <= ratio <= 1:
            raise ScenarioError(f"{where}: max_spend_ratio must be between 0 and 1")
        return cls(
            id=_require(data, "id", where),
            name=_require(data, "name", where),
            alternative_code=data.get("alternative_code"),
            reduction_method=_choice(
                data.get("reduction_method", FRONT_END), REDUCTION_METHODS, where
            ),
            allow_automatic_spend=bool(data.get("allow_automatic_spend", True)),
            minimum_spend_per_transaction=scenario_amount(
                data.get("minimum_spend_amount_per_transaction"),
                where,
                defaults["minimum"],
            ),
            maximum_spend_per_transaction=scenario_amount(
                data.get("maximum_spend_amount_per_transaction"),
                where,
                defaults["maximum"],
            ),
            max_spend_ratio=ratio,
            spend_everything=bool(data.get("spend_everything", defaults["spend_everything"])),
        )

    def short(self):
        return {
            "id": self.id,
            "name": self.name,
            "alternative_code": self.alternative_code,
        }


@dataclass
class Product:
    id: str
    code: str
    alternative_code: str | None
    description: str | None

    @classmethod
    def from_dict(cls, data):
        where = f"product {data.get('code')!r}"
        return cls(
            id=_require(data, "id", where),
            code=_require(data, "code", where),
            alternative_code=data.get("alternative_code"),
            description=data.get("description"),
        )

    def short(self):
        return {
            "id": self.id,
            "code": self.code,
            "alternative_code": self.alternative_code,
            "description": self.description,
        }


@dataclass
class Classification:
    id: str
    name: str
    alternative_code: str | None

    @classmethod
    def from_dict(cls, data):
        where = f"classification {data.get('id')!r}"
        return cls(
            id=_require(data, "id", where),
            name=_require(data, "name", where),
            alternative_code=data.get("alternative_code"),
        )

    def short(self):
        return {
            "id": self.id,
            "name": self.name,
            "alternative_code": self.alternative_code,
        }


@dataclass
class Offer:
    id: str
    name: str
    percent: Decimal | None
    amount: Decimal | None
    min_total: Decimal
    product_codes: tuple
    unit_ids: tuple
    spend_method: str

    @classmethod
    def from_dict(cls, data):
        where = f"offer {data.get('id')!r}"
        has_percent = data.get("percent") is not None
        if has_percent == (data.get("amount") is not None):
            raise ScenarioError(f"{where}: give exactly one of 'percent', 'amount'")
        percent = Decimal(str(data["percent"])) if has_percent else None
        if percent is not None and percent < 0:
            raise ScenarioError(f"{where}: percent must not be negative")
        return cls(
            id=_require(data, "id", where),
            name=_require(data, "name", where),
            percent=percent,
            amount=scenario_amount(data.get("amount"), where),
            min_total=scenario_amount(data.get("min_total"), where, ZERO),
            product_codes=tuple(data.get("product_codes") or ()),
            unit_ids=tuple(data.get("units") or ()),
            spend_method=_choice(
                data.get("spend_method", ON_REQUEST), (ON_REQUEST, INSTANTLY), where
            ),
        )


@dataclass
class AccessToken:
    kind: str
    authentication_code: str | None
    identifier: str | None
    pass_code: str | None
    life_cycle_state: str

    @classmethod
    def from_dict(cls, data, where):
        token = cls(
            kind=data.get("kind", "CARD"),
            authentication_code=data.get("authentication_code"),
            identifier=data.get("identifier"),
            pass_code=data.get("pass_code"),
            life_cycle_state=_choice(
                data.get("life_cycle_state", EFFECTIVE),
                (EFFECTIVE, "NOT_EFFECTIVE"),
                where,
            ),
        )
        if not token.authentication_code and not token.identifier:
            raise ScenarioError(f"{where}: needs authentication_code or identifier")
        if token.identifier and not token.pass_code:
            raise ScenarioError(f"{where}: identifier needs a pass_code")
        return token


@dataclass
class AutoSpend:
    enabled: bool
    minimum_wallet_balance: Decimal | None
    minimum_spend_amount: Decimal | None
    maximum_spend_amount: Decimal | None
    # Empty = every merchant (unit) is authorised.
    authorised_unit_ids: tuple

    @classmethod
    def from_dict(cls, data, where):
        data = data or {}
        return cls(
            enabled=bool(data.get("enabled", False)),
            minimum_wallet_balance=scenario_amount(data.get("minimum_wallet_balance"), where),
            minimum_spend_amount=scenario_amount(data.get("minimum_spend_amount"), where),
            maximum_spend_amount=scenario_amount(data.get("maximum_spend_amount"), where),
            authorised_unit_ids=tuple(data.get("authorised_units") or ()),
        )


@dataclass
class Participant:
    id: str
    number: str
    sign_up_on: str
    life_cycle_state: str
    spend_blocking_state: str
    sign_up_by_unit_id: str | None
    ar_id: str
    ar_number: str
    ar_name: str
    ar_life_cycle_state: str
    account_owner: dict
    wallet_id: str
    wallet_number: str
    balance: Decimal
    auto_spend: AutoSpend
    access_tokens: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, data):
        where = f"participant {data.get('number')!r}"
        ar = data.get("accounts_receivable") or {}
        wallet = data.get("wallet") or {}
        owner = _account_owner(ar.get("account_owner") or {}, where)
        ar_number = _require(ar, "number", f"{where} accounts_receivable")
        return cls(
            id=_require(data, "id", where),
            number=_require(data, "number", where),
            sign_up_on=data.get("sign_up_on", "2024-01-01T09:00:00"),
            life_cycle_state=_choice(
                data.get("life_cycle_state", EFFECTIVE), (EFFECTIVE, TERMINATED), where
            ),
            spend_blocking_state=_choice(
                data.get("spend_blocking_state", UNBLOCKED), (UNBLOCKED, BLOCKED), where
            ),
            sign_up_by_unit_id=data.get("sign_up_by_unit"),
            ar_id=_require(ar, "id", f"{where} accounts_receivable"),
            ar_number=ar_number,
            ar_name=ar.get("name") or f"{ar_number} {_display_name(owner)}".strip(),
            ar_life_cycle_state=_choice(
                ar.get("life_cycle_state", ACTIVE),
                (ACTIVE, "SUSPENDED", TERMINATED),
                where,
            ),
            account_owner=owner,
            wallet_id=_require(wallet, "id", f"{where} wallet"),
            wallet_number=_require(wallet, "number", f"{where} wallet"),
            balance=scenario_amount(wallet.get("balance"), f"{where} wallet", ZERO),
            auto_spend=AutoSpend.from_dict(data.get("auto_spend_authorisation"), where),
            access_tokens=[
                AccessToken.from_dict(token, f"{where} access token")
                for token in data.get("access_tokens") or ()
            ],
        )

    @property
    def display_name(self):
        return _display_name(self.account_owner) or self.ar_name

    def spending_refusal(self):
        """Why this participant may not spend now, or None when spending is allowed."""
        if self.life_cycle_state != EFFECTIVE:
            return "the rewards participant is TERMINATED"
        if self.ar_life_cycle_state != ACTIVE:
            return f"the accounts receivable is {self.ar_life_cycle_state}"
        if self.spend_blocking_state == BLOCKED:
            return "spending is blocked for this rewards participant"
        return None

    def ar_short(self):
        return {"id": self.ar_id, "number": self.ar_number, "name": self.ar_name}


def _account_owner(data, where):
    owner_type = _choice(data.get("type", "PERSON"), ("PERSON", "COMPANY"), where)
    company = data.get("company_name")
    return {
        "first_name": data.get("first_name"),
        "last_name": data.get("last_name"),
        "type": owner_type,
        # Persons have name null in CRM.COM's sample data unless the scenario says.
        "name": data.get("name", company if owner_type == "COMPANY" else None),
        "company_name": company,
    }


def _display_name(owner):
    if owner.get("name"):
        return owner["name"]
    if owner.get("company_name"):
        return owner["company_name"]
    parts = (owner.get("first_name"), owner.get("last_name"))
    return " ".join(part for part in parts if part)


# ---- events created through the API ----------------------------------------------


@dataclass
class PurchaseLine:
    id: str
    product: Product
    quantity: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    total_amount: Decimal
    # Set when an unknown product was booked on the scenario's default product.
    intended_identifier: str | None = None
    intended_value: str | None = None


@dataclass
class AwardTransaction:
    id: str
    number: str
    amount: Decimal
    offer: Offer
    state: str = POSTED


@dataclass
class SpendRequest:
    id: str
    number: str
    kind: str  # INSTANT / AUTOMATIC / ADDITIONAL
    participant: Participant
    unit: Unit
    purchase: "Purchase"
    performed_on: str
    asked: Decimal
    spent: Decimal
    transaction_id: str
    transaction_number: str
    created: str
    external_system: str | None = None
    external_system_reference_number: str | None = None
    description: str | None = None
    state: str = POSTED


@dataclass
class Purchase:
    id: str
    number: str
    sequence: int
    participant: Participant
    unit: Unit
    performed_on: str
    reference_number: str
    total_amount: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    lines: list
    created: str
    classification: Classification | None = None
    external_system: str | None = None
    external_system_reference_number: str | None = None
    description: str | None = None
    awards: list = field(default_factory=list)
    spend_requests: list = field(default_factory=list)
    state: str = POSTED

    def spent(self, kind=None):
        """Σ of the POSTED spend requests on this purchase (of one kind, or all)."""
        return sum(
            (
                request.spent
                for request in self.spend_requests
                if request.state == POSTED and (kind is None or request.kind == kind)
            ),
            ZERO,
        )

    def awarded(self):
        return sum((award.amount for award in self.awards if award.state == POSTED), ZERO)

    def spend_request(self, kind):
        """The instant or automatic spend request (there is at most one of each)."""
        return next((r for r in self.spend_requests if r.kind == kind), None)
