"""Who may write the CRM.COM story (README, "Trust model").

The CRM.COM fields of an order are written by the addon's own flows only; the
partner's CRM.COM identity and the till's CRM.COM settings by those flows or by
Point of Sale managers. A flow marks its environment with ``FLOW``: an object that
lives in this process only, so no RPC can send it (JSON cannot name it), unlike a
context flag, which any caller can set.
"""

import functools

CONTEXT_KEY = "crmcom_flow"


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<crmcom {self.name}>"


# The addon's flows: they may write every CRM.COM field.
FLOW = _Marker("flow")
# A till sync being saved: the lines of a redeemed order may change in it, because
# the sync compares the order before and after (pos.order._process_order).
CHECKED_SYNC = _Marker("checked sync")


def in_flow(records):
    """``records`` in an environment allowed to write the CRM.COM story."""
    return records.with_context(**{CONTEXT_KEY: FLOW})


def is_flow(env):
    return env.context.get(CONTEXT_KEY) is FLOW


def in_checked_sync(env):
    return env.context.get(CONTEXT_KEY) in (FLOW, CHECKED_SYNC)


def is_manager(env):
    """Point of Sale managers (and server code) may correct identities and settings."""
    return env.su or is_flow(env) or env.user.has_group("point_of_sale.group_pos_manager")


def touched(vals, names):
    """The keys of ``vals`` among ``names`` (a predicate or a collection)."""
    if callable(names):
        return sorted(key for key in vals if names(key))
    return sorted(key for key in vals if key in names)


def without_defaults(records, names):
    """``records`` without ``default_<name>`` context keys for ``names``: a caller's
    context must not give a new record what its values may not."""
    context = records.env.context
    clean = {
        key: value
        for key, value in context.items()
        if not (key.startswith("default_") and _matches(key[len("default_") :], names))
    }
    if len(clean) == len(context):
        return records
    # Replacing the context is the point: kwargs could only add or change keys.
    return records.with_context(clean)  # pylint: disable=context-overridden


def _matches(name, names):
    return names(name) if callable(names) else name in names


def flow(method):
    """Run a model method of the addon's flows with ``FLOW`` in its environment
    (records it receives as arguments keep theirs: ``with_env(self.env)`` them)."""

    @functools.wraps(method)
    def run_in_flow(self, *args, **kwargs):
        return method(in_flow(self), *args, **kwargs)

    return run_in_flow
