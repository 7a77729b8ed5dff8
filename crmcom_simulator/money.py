"""Money as Decimal, rounded half-up to 2 decimal places."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Amounts compared "within 0.01" (net + vat = total, Σ lines = total).
TOLERANCE = Decimal("0.01")


def to_money(value):
    """Decimal rounded half-up to cents; accepts Decimal, int, float or str."""
    if isinstance(value, float):
        value = repr(value)  # the shortest text form, not the binary expansion
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_or_none(value):
    return None if value is None else to_money(value)


def json_number(value):
    """Decimal → a JSON-friendly number (int when integral, else float)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def plain(obj):
    """Deep copy of a rendered answer with every Decimal turned into a JSON number."""
    if isinstance(obj, Decimal):
        return json_number(obj)
    if isinstance(obj, dict):
        return {key: plain(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(value) for value in obj]
    return obj
