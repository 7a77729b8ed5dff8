"""The reward maths: awards from offers, instant / automatic / additional spend.

Pure functions over model records; the engine calls them under its lock.
"""

from dataclasses import dataclass
from decimal import Decimal

from .model import EFFECTIVE, INSTANT, INSTANTLY
from .money import ZERO, to_money


@dataclass
class Quote:
    """What a purchase would earn and spend; preview shows it, create books it."""

    awards: list  # [(Offer, Decimal)] with amount > 0
    instant: Decimal
    automatic: Decimal
    additional: Decimal
    spending_allowed: bool

    @property
    def total_award(self):
        return sum((amount for _, amount in self.awards), ZERO)


def offer_award(offer, unit, total, lines):
    """The award of one offer for a purchase (0 when it does not apply)."""
    if offer.unit_ids and unit.id not in offer.unit_ids:
        return ZERO
    if total < offer.min_total:
        return ZERO
    if offer.amount is not None:
        return offer.amount
    if offer.product_codes:
        base = sum(
            (line.total_amount for line in lines if line.product.code in offer.product_codes),
            ZERO,
        )
    else:
        base = total
    return to_money(base * offer.percent / Decimal(100))


def automatic_spend(participant, unit, wallet, remaining_total):
    """Automatic spend (R13): participant authorisation + merchant permission."""
    auth = participant.auto_spend
    if not (auth.enabled and unit.allow_automatic_spend):
        return ZERO
    if auth.authorised_unit_ids and unit.id not in auth.authorised_unit_ids:
        return ZERO
    if wallet < (auth.minimum_wallet_balance or ZERO):
        return ZERO
    amount = min(wallet, remaining_total)
    if auth.maximum_spend_amount is not None:
        amount = min(amount, auth.maximum_spend_amount)
    if amount <= 0 or amount < (auth.minimum_spend_amount or ZERO):
        return ZERO
    return to_money(amount)


def quote(participant, unit, total, lines, offers):
    """Awards and spends of a purchase, from the wallet as it is before it."""
    spending_allowed = participant.spending_refusal() is None
    if participant.life_cycle_state != EFFECTIVE:
        # create refuses such a purchase, so preview promises nothing either
        return Quote([], ZERO, ZERO, ZERO, spending_allowed)
    awards = []
    for offer in offers:
        amount = offer_award(offer, unit, total, lines)
        if amount > 0:
            awards.append((offer, amount))
    if not spending_allowed:
        return Quote(awards, ZERO, ZERO, ZERO, False)
    instant_awards = sum(
        (amount for offer, amount in awards if offer.spend_method == INSTANTLY), ZERO
    )
    instant = min(instant_awards, total)
    wallet = participant.balance
    automatic = automatic_spend(participant, unit, wallet, total - instant)
    additional = min(wallet - automatic, total - instant - automatic)
    if unit.maximum_spend_per_transaction is not None:
        additional = min(additional, unit.maximum_spend_per_transaction)
    return Quote(awards, instant, automatic, max(ZERO, additional), True)


def additional_spend(purchase, participant, unit, asked):
    """What a spend request on this purchase really spends (may be less than asked).

    Bounded by the wallet without this purchase's own unspent awards, by what is
    left of the purchase total, and by the unit's max_spend_ratio of that total.
    """
    already = purchase.spent()
    own_awards_in_wallet = purchase.awarded() - purchase.spent(INSTANT)
    ratio_cap = to_money(purchase.total_amount * unit.max_spend_ratio) - already
    return min(
        asked,
        participant.balance - own_awards_in_wallet,
        purchase.total_amount - already,
        ratio_cap,
    )


def remaining_to_spend(purchase):
    return purchase.total_amount - purchase.spent()


def spend_everything(purchase, participant):
    """A spend request on a unit set to spend everything: the amount asked is ignored,
    what the purchase still owes is spent as far as the wallet (without this
    purchase's own unspent awards) goes."""
    own_awards_in_wallet = purchase.awarded() - purchase.spent(INSTANT)
    return min(participant.balance - own_awards_in_wallet, remaining_to_spend(purchase))
