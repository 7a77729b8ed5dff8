"""Records → API answers (dicts holding Decimals; the server turns those into numbers).

field_style "alternate" renames two fields the integration guide spells differently
from the reference docs (spend_reward_transaction.total_amount, preview
total_awarded_amount), so clients can be tested against both spellings.
"""

from .model import ADDITIONAL, AUTOMATIC, INSTANT


def select_fields(data, fields):
    """fields_set: keep only the named top-level keys (unknown names are ignored)."""
    if not fields:
        return data
    return {key: value for key, value in data.items() if key in fields}


def omit(data, names):
    """settings.omit_inferred_fields: leave out the answer fields the documentation
    does not confirm (a real server may not send them)."""
    if not names:
        return data
    return {key: value for key, value in data.items() if key not in names}


def currency(code):
    return {"code": code}


def participant(record, catalogue):
    unit = catalogue.unit_by["id"].get(record.sign_up_by_unit_id)
    auth = record.auto_spend
    return {
        "id": record.id,
        "number": record.number,
        "sign_up_on": record.sign_up_on,
        "life_cycle_state": record.life_cycle_state,
        "accounts_receivable": {
            "id": record.ar_id,
            "number": record.ar_number,
            "name": record.ar_name,
            "life_cycle_state": record.ar_life_cycle_state,
            "account_owner": dict(record.account_owner),
        },
        "wallet": {
            "id": record.wallet_id,
            "number": record.wallet_number,
            "life_cycle_state": "EFFECTIVE",
            "balance": record.balance,
            "currency": currency(catalogue.currency),
        },
        "auto_spend_authorisation": {
            "enabled": auth.enabled,
            "minimum_wallet_balance": auth.minimum_wallet_balance,
            "minimum_spend_amount": auth.minimum_spend_amount,
            "maximum_spend_amount": auth.maximum_spend_amount,
        },
        "spend_blocking_state": record.spend_blocking_state,
        "currency": currency(catalogue.currency),
        "sign_up_by_unit": unit.short() if unit else None,
    }


def preview(quote, record, unit, field_style):
    alternate = field_style == "alternate"
    award_field = "total_awarded_amount" if alternate else "total_award_amount"
    return {
        award_field: quote.total_award,
        "total_instant_spend_amount": quote.instant,
        "total_automatic_spend_amount": quote.automatic,
        "total_additional_spend_amount": quote.additional,
        "minimum_spend_amount_per_transaction": unit.minimum_spend_per_transaction,
        "maximum_spend_amount_per_transaction": unit.maximum_spend_per_transaction,
        "reduction_method": unit.reduction_method,
        "rewards_participant_id": record.id,
        "rewards_participant_name": record.display_name,
        "wallet_balance": record.balance,
        "allow_spending": quote.spending_allowed,
    }


def spend_request(request, currency_code, field_style):
    amount_field = "total_amount" if field_style == "alternate" else "amount"
    return {
        "id": request.id,
        "number": request.number,
        "type": "SPEND REQUEST",
        "life_cycle_state": request.state,
        "performed_on": request.performed_on,
        "spend_amount": request.asked,
        "reduction_method": request.unit.reduction_method,
        "instant_spend": request.kind == INSTANT,
        "automatic_spend": request.kind == AUTOMATIC,
        "external_system": request.external_system,
        "external_system_reference_number": request.external_system_reference_number,
        "description": request.description,
        "currency": currency(currency_code),
        "accounts_receivable": request.participant.ar_short(),
        "performed_by_unit": request.unit.short(),
        "purchase_customer_event": {
            "id": request.purchase.id,
            "number": request.purchase.number,
        },
        "spend_reward_transaction": {
            "id": request.transaction_id,
            "number": request.transaction_number,
            "life_cycle_state": request.state,
            amount_field: request.spent,
            "spend_method": request.kind,
        },
        "log_information": {"created_date": request.created},
    }


def purchase(record, currency_code, field_style):
    def embedded(kind):
        request = record.spend_request(kind)
        return spend_request(request, currency_code, field_style) if request else None

    instant = record.spent(INSTANT)
    automatic = record.spent(AUTOMATIC)
    additional = record.spent(ADDITIONAL)
    return {
        "id": record.id,
        "number": record.number,
        "type": "PURCHASE",
        "life_cycle_state": record.state,
        "performed_on": record.performed_on,
        "reference_number": record.reference_number,
        "external_system": record.external_system,
        "external_system_reference_number": record.external_system_reference_number,
        "description": record.description,
        "classification": record.classification.short() if record.classification else None,
        "total_amount": record.total_amount,
        "net_amount": record.net_amount,
        "vat_amount": record.vat_amount,
        "total_awarded_amount": record.awarded(),
        "total_spend_amount": instant + automatic + additional,
        "total_instant_spend_amount": instant,
        "total_automatic_spend_amount": automatic,
        "total_additional_spend_amount": additional,
        "currency": currency(currency_code),
        "accounts_receivable": record.participant.ar_short(),
        "performed_by_unit": record.unit.short(),
        "products_set": [_line(line) for line in record.lines],
        "award_reward_transactions_set": [
            {
                "id": award.id,
                "number": award.number,
                "life_cycle_state": award.state,
                "amount": award.amount,
                "spend_method": "SPEND_INSTANTLY"
                if award.offer.spend_method == "INSTANTLY"
                else "SPEND_ON_REQUEST",
                "reward_offer": {"id": award.offer.id, "name": award.offer.name},
            }
            for award in record.awards
        ],
        "instant_spend_request": embedded(INSTANT),
        "automatic_spend_request": embedded(AUTOMATIC),
        "log_information": {"created_date": record.created},
    }


def _line(line):
    rendered = {
        "id": line.id,
        "quantity": line.quantity,
        "net_amount": line.net_amount,
        "vat_amount": line.vat_amount,
        "total_amount": line.total_amount,
        "product": line.product.short(),
    }
    if line.intended_identifier is not None:
        rendered["intended_product_identifier"] = line.intended_identifier
        rendered["intended_product_value"] = line.intended_value
    return rendered
