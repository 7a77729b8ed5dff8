"""The addon's own refusals; CRM.COM's errors are the client's (``crmcom.errors``)."""


class RewardsError(Exception):
    """A refusal of the addon's own, already in the user's words."""


class CrmcomOrderError(RewardsError):
    """An order cannot be turned into a CRM.COM purchase, or a spend is refused by the
    server's checks (a reason for the cashier or the back office)."""


class TillInputError(RewardsError):
    """What a till sent cannot be used (malformed, out of range, unknown)."""
