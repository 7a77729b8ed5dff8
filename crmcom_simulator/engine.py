"""State and business rules of the simulated CRM.COM Rewards back end.

Every public method takes the engine lock for its whole run, so each API request is
applied atomically; the HTTP layer sleeps (latency, fault delays) outside it.
Callers pass requests already validated by api.py; the engine resolves identifiers
(NOT_FOUND) and applies the business rules. Nothing changes before all checks pass.
"""

import copy
import threading
import uuid
from collections import defaultdict
from datetime import datetime

from . import errors, render
from .errors import ApiError
from .model import (
    ADDITIONAL,
    AUTOMATIC,
    CANCELLED,
    EFFECTIVE,
    INSTANT,
    POSTED,
    AwardTransaction,
    Purchase,
    PurchaseLine,
    SpendRequest,
)
from .params import DATETIME_FORMAT
from .rewards import additional_spend, quote, remaining_to_spend, spend_everything
from .scenario import Catalogue
from .tokens import TokenStore


def new_id():
    """A 32-character uppercase hex id, the shape CRM.COM uses."""
    return uuid.uuid4().hex.upper()


class Engine:
    """The scenario's records plus the events created through the API."""

    def __init__(self, scenario, clock=None):
        self._scenario = scenario
        self._clock = clock or self._system_clock
        self.lock = threading.RLock()
        self.tokens = TokenStore()
        self.reset()

    def _system_clock(self):
        zone = self.catalogue.timezone
        return datetime.now(zone) if zone is not None else datetime.now()

    # ---- lifecycle ---------------------------------------------------------------

    def use_scenario(self, scenario):
        """Serve ``scenario`` (a validated dict) from the next reset() on."""
        with self.lock:
            self._scenario = scenario

    def reset(self):
        """Back to the scenario's initial state. Issued tokens stay valid."""
        with self.lock:
            self.catalogue = Catalogue(copy.deepcopy(self._scenario))
            self.field_style = self.catalogue.settings["field_style"]
            self.purchases = []  # in creation order
            self.spend_requests = []
            self._purchase_by = {"id": {}, "number": {}}
            self._spend_by = {"id": {}, "number": {}}
            self._references = set()  # (unit id, reference_number)
            self._external_references = set()  # external_system_reference_number
            self.tokens.idle_timeout = self.catalogue.settings["token_idle_timeout"]
            self._sequences = defaultdict(int)
            self.login_count = 0

    def _next_number(self, prefix):
        self._sequences[prefix] += 1
        return f"{prefix}{self._sequences[prefix]:06d}"

    def _now(self):
        """The server's wall-clock time, in settings.timezone when it has one."""
        zone = self.catalogue.timezone
        now = self._clock()
        if zone is not None and now.tzinfo is not None:
            now = now.astimezone(zone).replace(tzinfo=None)
        return now.replace(microsecond=0).strftime(DATETIME_FORMAT)

    # ---- authentication ----------------------------------------------------------

    def login_with_key(self, key, unit_id):
        with self.lock:
            if key not in self.catalogue.web_api_keys:
                raise ApiError(
                    errors.INVALID_CREDENTIALS,
                    "The Web API key is not valid.",
                    "Send the key as the Basic auth user name with an empty password.",
                )
            unit = self._unit_by_id(unit_id)
            return self._issue("web_api_key", unit)

    def login_with_password(self, username, password, organisation, unit_id):
        with self.lock:
            user = next(
                (
                    user
                    for user in self.catalogue.users
                    if user["username"] == username
                    and user["password"] == password
                    and user["organisation"] == organisation
                ),
                None,
            )
            if user is None:
                raise ApiError(
                    errors.INVALID_CREDENTIALS,
                    "The username, password or organisation is not valid.",
                    "Check the credentials configured for CRM.COM.",
                )
            unit = self._unit_by_id(unit_id or user.get("unit"))
            return self._issue(username, unit)

    def _unit_by_id(self, unit_id):
        if unit_id is None:
            return self.catalogue.units[0]
        unit = self.catalogue.unit_by["id"].get(unit_id)
        if unit is None:
            raise errors.not_found("unit", f"No unit has id {unit_id!r}.")
        return unit

    def _issue(self, username, unit):
        token = self.tokens.issue(username, self.catalogue.organisation, unit.name)
        self.login_count += 1
        return {"token": token}

    def check_token(self, token):
        with self.lock:
            state = self.tokens.check(token) if token else "unknown"
            if state == "idle":
                raise ApiError(
                    errors.INVALID_TOKEN,
                    "The token has expired after being idle.",
                    "Log in again to get a new token.",
                    kind=errors.TOKEN_IDLE_EXPIRED,
                )
            if state != "valid":
                raise ApiError(
                    errors.INVALID_TOKEN,
                    "The token is not valid or has expired.",
                    "Log in again to get a new token.",
                )

    def release_token(self, token):
        with self.lock:
            self.check_token(token)
            self.tokens.release(token)

    # ---- identification ----------------------------------------------------------

    def show_participant(self, identifier, fields):
        with self.lock:
            participant = self._participant(("rewards_participant_identifier", identifier))
            answer = render.participant(participant, self.catalogue)
            return render.select_fields(render.omit(answer, self.catalogue.omitted_fields), fields)

    def _participant(self, identity):
        name, (key, value) = identity
        if key == "access_token_identifier":
            return self._participant_by_access_token(value)
        if name == "rewards_participant_identifier":
            index = self.catalogue.participant_by[key]
        else:
            index = self.catalogue.participant_by_ar[f"ar_{key}"]
        participant = index.get(value)
        if participant is None:
            what = (
                "rewards participant"
                if name == "rewards_participant_identifier"
                else "accounts receivable"
            )
            raise errors.not_found(what, f"No {what} has {key} {value!r}.")
        return participant

    def _participant_by_access_token(self, token_identifier):
        code = token_identifier.get("authentication_code")
        if code is not None:
            found = self.catalogue.token_by_code.get(code)
        else:
            found = self.catalogue.token_by_identifier.get(token_identifier["identifier"])
            if found and found[0].pass_code != token_identifier["pass_code"]:
                found = None
        if found is None or found[0].life_cycle_state != EFFECTIVE:
            raise errors.not_found(
                "access token",
                "No effective access token matches what was given.",
                kind=errors.ACCESS_TOKEN_NOT_FOUND,
            )
        return found[1]

    def _unit(self, identifier):
        key, value = identifier
        unit = self.catalogue.unit_by[key].get(value)
        if unit is None:
            raise errors.not_found("unit", f"No unit has {key} {value!r}.")
        return unit

    def _classification(self, identifier):
        if identifier is None:
            return None
        key, value = identifier
        found = self.catalogue.classification_by[key].get(value)
        if found is None:
            raise errors.not_found("classification", f"No classification has {key} {value!r}.")
        return found

    def _lines(self, inputs):
        lines = []
        for index, line in enumerate(inputs):
            product, intended = self._line_product(line.product, index)
            lines.append(
                PurchaseLine(
                    id=new_id(),
                    product=product,
                    quantity=line.quantity,
                    net_amount=line.net_amount,
                    vat_amount=line.vat_amount,
                    total_amount=line.total_amount,
                    intended_identifier=intended[0] if intended else None,
                    intended_value=intended[1] if intended else None,
                )
            )
        return lines

    def _line_product(self, identifier, index):
        """The booked product, and (key, value) when the default product stands in."""
        default = self.catalogue.default_product
        if identifier is None:
            if default is None:
                raise errors.missing(f"products_set[{index}].product_identifier")
            return default, None
        key, value = identifier
        product = self.catalogue.product_by[key].get(value)
        if product is not None:
            return product, None
        if default is None or self.catalogue.settings["strict"]:
            raise errors.not_found(
                "product", f"products_set[{index}]: no product has {key} {value!r}."
            )
        return default, (key, value)

    # ---- purchases ---------------------------------------------------------------

    def preview(self, request, fields):
        with self.lock:
            participant = self._participant(request.identity)
            unit = self._unit(request.unit)
            self._classification(request.classification)
            lines = self._lines(request.lines)
            offers = self.catalogue.offers
            result = quote(participant, unit, request.total_amount, lines, offers)
            answer = render.preview(result, participant, unit, self.field_style)
            return render.select_fields(answer, fields)

    def create_purchase(self, request, fields):
        with self.lock:
            participant = self._participant(request.identity)
            unit = self._unit(request.unit)
            classification = self._classification(request.classification)
            lines = self._lines(request.lines)
            if participant.life_cycle_state != EFFECTIVE:
                raise _not_effective(participant)
            reference = (unit.id, request.reference_number)
            reject = self.catalogue.settings["reject_duplicate_reference_numbers"]
            if reject and reference in self._references:
                raise ApiError(
                    errors.DUPLICATE_REFERENCE_NUMBER,
                    "A purchase with this reference number already exists.",
                    f"Unit {unit.name!r} already submitted reference number "
                    f"{request.reference_number!r}.",
                )
            external = request.external_system_reference_number
            if (
                self.catalogue.settings["unique_external_system_reference_numbers"]
                and external is not None
                and external in self._external_references
            ):
                raise ApiError(
                    errors.DUPLICATE_EXTERNAL_SYSTEM_REFERENCE_NUMBER,
                    "A purchase with this external system reference number already exists.",
                    f"external_system_reference_number {external!r} is already used.",
                )
            result = quote(participant, unit, request.total_amount, lines, self.catalogue.offers)
            # All checks passed: from here on the purchase is booked.
            now = self._now()
            performed_on = request.performed_on.strftime(DATETIME_FORMAT)
            purchase = Purchase(
                id=new_id(),
                number=self._next_number("CE"),
                sequence=len(self.purchases),
                participant=participant,
                unit=unit,
                performed_on=performed_on,
                reference_number=request.reference_number,
                total_amount=request.total_amount,
                net_amount=request.net_amount,
                vat_amount=request.vat_amount,
                lines=lines,
                created=now,
                classification=classification,
                external_system=request.external_system,
                external_system_reference_number=request.external_system_reference_number,
                description=request.description,
            )
            for offer, amount in result.awards:
                purchase.awards.append(
                    AwardTransaction(new_id(), self._next_number("ART"), amount, offer)
                )
                participant.balance += amount
            for kind, amount in (
                (INSTANT, result.instant),
                (AUTOMATIC, result.automatic),
            ):
                if amount > 0:
                    self._book_spend(purchase, kind, unit, performed_on, amount, amount)
            self.purchases.append(purchase)
            self._purchase_by["id"][purchase.id] = purchase
            self._purchase_by["number"][purchase.number] = purchase
            self._references.add(reference)
            if external is not None:
                self._external_references.add(external)
            return self._render_purchase(purchase, fields)

    def _book_spend(self, purchase, kind, unit, performed_on, asked, spent, **extra):
        request = SpendRequest(
            id=new_id(),
            number=self._next_number("CE"),
            kind=kind,
            participant=purchase.participant,
            unit=unit,
            purchase=purchase,
            performed_on=performed_on,
            asked=asked,
            spent=spent,
            transaction_id=new_id(),
            transaction_number=self._next_number("SRT"),
            created=self._now(),
            **extra,
        )
        purchase.participant.balance -= spent
        purchase.spend_requests.append(request)
        self.spend_requests.append(request)
        self._spend_by["id"][request.id] = request
        self._spend_by["number"][request.number] = request
        return request

    def cancel_purchase(self, identifier, fields):
        with self.lock:
            purchase = self._purchase(identifier)
            if purchase.state != POSTED:
                raise _not_posted("purchase", purchase, kind=errors.ALREADY_CANCELLED)
            participant = purchase.participant
            for award in purchase.awards:
                if award.state == POSTED:
                    award.state = CANCELLED
                    participant.balance -= award.amount  # may go negative: see README
            for request in purchase.spend_requests:
                if request.state == POSTED:
                    request.state = CANCELLED
                    participant.balance += request.spent
            purchase.state = CANCELLED
            return self._render_purchase(purchase, fields)

    def show_purchase(self, identifier, fields):
        with self.lock:
            return self._render_purchase(self._purchase(identifier), fields)

    def list_purchases(self, identity, after, before, limit, offset, fields):
        with self.lock:
            participant = self._participant(identity)
            created_after = after.strftime(DATETIME_FORMAT) if after else None
            created_before = before.strftime(DATETIME_FORMAT) if before else None
            # created dates share one format, so text order is time order
            matching = [
                purchase
                for purchase in self.purchases
                if purchase.participant is participant
                and (created_after is None or purchase.created >= created_after)
                and (created_before is None or purchase.created <= created_before)
            ]
            matching.sort(key=lambda purchase: (purchase.created, purchase.sequence))
            page = matching[offset : offset + limit]
            return [self._render_purchase(purchase, fields) for purchase in page]

    def _purchase(self, identifier):
        key, value = identifier
        purchase = self._purchase_by[key].get(value)
        if purchase is None:
            raise errors.not_found("purchase", f"No purchase has {key} {value!r}.")
        return purchase

    def _render_purchase(self, purchase, fields):
        answer = render.purchase(purchase, self.catalogue.currency, self.field_style)
        return render.select_fields(render.omit(answer, self.catalogue.omitted_fields), fields)

    # ---- spend requests ----------------------------------------------------------

    def create_spend_request(self, request, fields):
        with self.lock:
            participant = self._participant(request.identity)
            unit = self._unit(request.unit)
            purchase = self._purchase(request.purchase)
            if participant.life_cycle_state != EFFECTIVE:
                raise _not_effective(participant)
            if purchase.participant is not participant:
                raise errors.invalid(
                    "purchase_customer_request_identifier",
                    f"Purchase {purchase.number} belongs to another customer.",
                )
            if purchase.state != POSTED:
                raise _not_posted("purchase", purchase)
            refusal = participant.spending_refusal()
            if refusal:
                raise ApiError(
                    errors.SPENDING_NOT_ALLOWED,
                    "Spending is not allowed for this customer.",
                    refusal[0].upper() + refusal[1:] + ".",
                )
            asked = request.spend_amount
            if asked is None:
                asked = remaining_to_spend(purchase)
                if asked <= 0:
                    raise _insufficient("Nothing is left to spend on this purchase.")
            if unit.spend_everything:
                # The amount asked is ignored: the whole purchase, as far as the wallet goes.
                spent = spend_everything(purchase, participant)
            else:
                self._check_limits(unit, asked)
                spent = additional_spend(purchase, participant, unit, asked)
            if spent <= 0:
                raise _insufficient(
                    "The wallet balance, the purchase total or the merchant's spending "
                    "conditions leave nothing to spend."
                )
            booked = self._book_spend(
                purchase,
                ADDITIONAL,
                unit,
                request.performed_on.strftime(DATETIME_FORMAT),
                asked,
                spent,
                external_system=request.external_system,
                external_system_reference_number=request.external_system_reference_number,
                description=request.description,
            )
            return self._render_spend(booked, fields)

    @staticmethod
    def _check_limits(unit, asked):
        low = unit.minimum_spend_per_transaction
        high = unit.maximum_spend_per_transaction
        if asked < low or (high is not None and asked > high):
            bounds = f"at least {low}" + (f" and at most {high}" if high is not None else "")
            raise ApiError(
                errors.SPEND_LIMIT_VIOLATION,
                "The spend amount is outside the limits per transaction.",
                f"Asked {asked}; a spend request must be {bounds}.",
            )

    def cancel_spend_request(self, identifier, fields):
        with self.lock:
            request = self._spend_request(identifier)
            if request.state != POSTED:
                raise _not_posted("spend request", request)
            request.state = CANCELLED
            request.participant.balance += request.spent
            return self._render_spend(request, fields)

    def show_spend_request(self, identifier, fields):
        with self.lock:
            return self._render_spend(self._spend_request(identifier), fields)

    def _spend_request(self, identifier):
        key, value = identifier
        request = self._spend_by[key].get(value)
        if request is None:
            raise errors.not_found("spend request", f"No spend request has {key} {value!r}.")
        return request

    def _render_spend(self, request, fields):
        answer = render.spend_request(request, self.catalogue.currency, self.field_style)
        return render.select_fields(answer, fields)

    # ---- state reads for tests (deep copies) -------------------------------------

    def wallet_balance(self, participant_number):
        with self.lock:
            participant = self.catalogue.participant_by["number"].get(participant_number)
            if participant is None:
                raise KeyError(f"no participant {participant_number!r}")
            return participant.balance

    def wallets(self):
        with self.lock:
            return {p.number: p.balance for p in self.catalogue.participants}

    def purchase_list(self, reference_number=None, state=None):
        with self.lock:
            return [
                self._render_purchase(purchase, None)
                for purchase in self.purchases
                if (reference_number is None or purchase.reference_number == reference_number)
                and (state is None or purchase.state == state)
            ]

    def spend_request_list(self, purchase_number=None):
        with self.lock:
            return [
                self._render_spend(request, None)
                for request in self.spend_requests
                if purchase_number is None or request.purchase.number == purchase_number
            ]


def _not_effective(participant):
    return ApiError(
        errors.PARTICIPANT_NOT_EFFECTIVE,
        "The customer's rewards membership is not effective.",
        f"Rewards participant {participant.number} is {participant.life_cycle_state}.",
    )


def _not_posted(what, record, *, kind=None):
    return ApiError(
        errors.NOT_POSTED,
        f"The {what} is not posted.",
        f"{what.capitalize()} {record.number} is {record.state}; only posted "
        f"{what}s can be cancelled or spent on.",
        kind=kind,
    )


def _insufficient(detail):
    return ApiError(
        errors.INSUFFICIENT_WALLET_BALANCE,
        "There is not enough in the wallet to spend on this purchase.",
        detail,
    )
