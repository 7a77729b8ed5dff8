"""Scenarios: loading, validation, and the catalogue the engine works on."""

import copy
import json
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import (
    Classification,
    Offer,
    Participant,
    Product,
    ScenarioError,
    Unit,
    scenario_amount,
)

SCENARIO_DIR = Path(__file__).with_name("scenarios")
BUNDLED = ("test", "demo")
FIELD_STYLES = ("docs", "alternate")

DEFAULT_SETTINGS = {
    "field_style": "docs",
    "reject_duplicate_reference_numbers": True,
    "default_product": None,
    "minimum_spend_amount_per_transaction": 0,
    "maximum_spend_amount_per_transaction": None,
    "token_ttl": 7200,
    # Strictness of a real CRM.COM, each off by default (README "Strict switches").
    "error_codes": {},  # simulator error name -> the code (or {code, message}) answered
    "session_error_http_status": 200,
    "timezone": None,  # IANA zone of the server's clock and of the dates it receives
    "omit_inferred_fields": False,  # True, or a list of INFERRED_FIELDS
    "unique_external_system_reference_numbers": False,
    "spend_everything": False,  # default of the units' own setting
    "token_idle_timeout": None,  # seconds a token may stay unused (before R12)
    "strict": False,  # refuse amounts with more than two decimals and unknown products
}
# Answer fields the documentation does not confirm (crmcom-api.md [INF]).
INFERRED_FIELDS = ("total_additional_spend_amount", "wallet")


def load_scenario(source=None):
    """A validated deep copy of a scenario.

    source: None (the bundled test scenario), "test" / "demo", a path to a JSON
    file, or a dict. Raises ScenarioError (a ValueError) when it is not usable.
    """
    if source is None:
        source = "test"
    if isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        path = Path(source)
        if str(source) in BUNDLED:
            path = SCENARIO_DIR / f"{source}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {str(path)!r}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"scenario {str(path)!r} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a JSON object")
    try:
        Catalogue(data)  # builds every record once: raises on anything inconsistent
    except ScenarioError:
        raise
    except (ArithmeticError, AttributeError, KeyError, TypeError) as exc:
        raise ScenarioError(f"the scenario is not usable: {exc!r}") from exc
    return data


class Catalogue:
    """The scenario turned into records with lookup indexes; fresh on every reset."""

    def __init__(self, data):
        self.name = data.get("name", "unnamed")
        self.organisation = data.get("organisation", "")
        self.currency = data.get("currency", "EUR")
        self.settings = {**DEFAULT_SETTINGS, **(data.get("settings") or {})}
        if self.settings["field_style"] not in FIELD_STYLES:
            raise ScenarioError(f"settings.field_style must be one of {FIELD_STYLES}")
        self._check_strict_settings()
        credentials = data.get("credentials") or {}
        self.web_api_keys = tuple(credentials.get("web_api_keys") or ())
        self.users = tuple(credentials.get("users") or ())
        for user in self.users:
            for key in ("username", "password", "organisation"):
                if not user.get(key):
                    raise ScenarioError(f"credentials.users: '{key}' is required")

        limits = {
            "minimum": scenario_amount(
                self.settings["minimum_spend_amount_per_transaction"], "settings"
            ),
            "maximum": scenario_amount(
                self.settings["maximum_spend_amount_per_transaction"], "settings"
            ),
        }
        limits["spend_everything"] = self.settings["spend_everything"]
        self.units = [Unit.from_dict(u, limits) for u in data.get("units") or ()]
        self.products = [Product.from_dict(p) for p in data.get("products") or ()]
        self.classifications = [
            Classification.from_dict(c) for c in data.get("classifications") or ()
        ]
        self.offers = [Offer.from_dict(o) for o in data.get("offers") or ()]
        self.participants = [Participant.from_dict(p) for p in data.get("participants") or ()]
        if not self.units:
            raise ScenarioError("a scenario needs at least one unit")
        self._index()
        self._check_references()

    def _index(self):
        self.unit_by = _indexes(self.units, ("id", "name", "alternative_code"), "unit")
        self.product_by = _indexes(self.products, ("id", "code", "alternative_code"), "product")
        self.classification_by = _indexes(
            self.classifications, ("id", "name", "alternative_code"), "classification"
        )
        self.participant_by = _indexes(self.participants, ("id", "number"), "participant")
        self.participant_by_ar = _indexes(
            self.participants, ("ar_id", "ar_number", "ar_name"), "accounts receivable"
        )
        _indexes(self.offers, ("id",), "offer")
        self.token_by_code = {}
        self.token_by_identifier = {}
        for participant in self.participants:
            for token in participant.access_tokens:
                for value, index in (
                    (token.authentication_code, self.token_by_code),
                    (token.identifier, self.token_by_identifier),
                ):
                    if value is None:
                        continue
                    if value in index:
                        raise ScenarioError(f"access token {value!r} is used twice")
                    index[value] = (token, participant)

    def _check_references(self):
        for offer in self.offers:
            for unit_id in offer.unit_ids:
                if unit_id not in self.unit_by["id"]:
                    raise ScenarioError(f"offer {offer.id!r}: unknown unit {unit_id!r}")
            for code in offer.product_codes:
                if code not in self.product_by["code"]:
                    raise ScenarioError(f"offer {offer.id!r}: unknown product {code!r}")
        for participant in self.participants:
            unit_ids = [participant.sign_up_by_unit_id]
            unit_ids += participant.auto_spend.authorised_unit_ids
            for unit_id in unit_ids:
                if unit_id is not None and unit_id not in self.unit_by["id"]:
                    raise ScenarioError(
                        f"participant {participant.number!r}: unknown unit {unit_id!r}"
                    )
        for user in self.users:
            unit_id = user.get("unit")
            if unit_id is not None and unit_id not in self.unit_by["id"]:
                raise ScenarioError(f"user {user['username']!r}: unknown unit {unit_id!r}")
        default = self.settings["default_product"]
        if default is not None and default not in self.product_by["code"]:
            raise ScenarioError(f"settings.default_product: unknown product {default!r}")

    def _check_strict_settings(self):
        settings = self.settings
        codes = settings["error_codes"]
        if not isinstance(codes, dict):
            raise ScenarioError("settings.error_codes must map error names to codes")
        for name, answer in codes.items():
            code = answer.get("code") if isinstance(answer, dict) else answer
            if not isinstance(code, str) or not code.strip() or code.upper() == "OK":
                raise ScenarioError(f"settings.error_codes.{name}: not an error code")
        status = settings["session_error_http_status"]
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise ScenarioError("settings.session_error_http_status must be an HTTP status")
        if settings["timezone"] is not None:
            try:
                self.timezone = ZoneInfo(settings["timezone"])
            except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
                raise ScenarioError(f"settings.timezone: {exc}") from None
        else:
            self.timezone = None
        omitted = settings["omit_inferred_fields"]
        if omitted is True:
            omitted = INFERRED_FIELDS
        elif omitted is False or omitted is None:
            omitted = ()
        elif not isinstance(omitted, list) or not set(omitted) <= set(INFERRED_FIELDS):
            raise ScenarioError(
                f"settings.omit_inferred_fields: true, false or a list of {INFERRED_FIELDS}"
            )
        self.omitted_fields = frozenset(omitted)
        idle = settings["token_idle_timeout"]
        if idle is not None and (
            isinstance(idle, bool) or not isinstance(idle, int | float) or idle <= 0
        ):
            raise ScenarioError("settings.token_idle_timeout must be positive seconds or null")
        for name in ("unique_external_system_reference_numbers", "spend_everything", "strict"):
            if not isinstance(settings[name], bool):
                raise ScenarioError(f"settings.{name} must be true or false")

    def error_answer(self, kind, code, message, description):
        """(code, message, description) answered for an error: settings.error_codes
        maps the error's own name (or its default code) to a code, or to an object
        {code, message, description}."""
        answer = self.settings["error_codes"].get(kind)
        if answer is None:
            answer = self.settings["error_codes"].get(code, code)
        if isinstance(answer, dict):
            return (
                answer["code"],
                answer.get("message") or message,
                answer.get("description", description),
            )
        return answer, message, description

    @property
    def default_product(self):
        code = self.settings["default_product"]
        return None if code is None else self.product_by["code"][code]


def _indexes(records, attributes, what):
    """{attribute: {value: record}}, refusing duplicate values."""
    indexes = {}
    for attribute in attributes:
        index = indexes[attribute] = {}
        for record in records:
            value = getattr(record, attribute)
            if value is None:
                continue
            if value in index:
                raise ScenarioError(f"two {what} records have {attribute} {value!r}")
            index[value] = record
    return indexes
