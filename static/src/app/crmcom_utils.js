import { _t } from "@web/core/l10n/translation";
import { formatFloat } from "@web/core/utils/numbers";
import { localization } from "@web/core/l10n/localization";
import { ConnectionLostError, RPCError } from "@web/core/network/rpc";

// ------------------------------------------------------------- till calls

/** What the till's CRM.COM calls resolve to when they fail: never a throw. */
export function failure(reason, message) {
    return { ok: false, reason, message };
}

/**
 * A failed RPC as the cashier's words (no traceback dialog, the sale goes on):
 * offline, or the server's message (``fallback`` when it has none). Any other
 * error is a bug and is thrown again.
 */
export function rpcFailure(error, fallback) {
    if (error instanceof ConnectionLostError) {
        return failure(
            "offline",
            _t(
                "The point of sale is offline: CRM.COM cannot be asked now. You can finish the sale without rewards."
            )
        );
    }
    if (error instanceof RPCError) {
        return failure("error", error.data?.message || fallback);
    }
    throw error;
}

// --------------------------------------------------------- identification

/** How a CRM.COM customer can be looked up (guide step 1 "Customer identification"). */
export const IDENTIFIER_KINDS = ["access_token", "number", "id"];

/** The choices of the identify popup, default (most common) first. */
export function identifierKindChoices() {
    return [
        {
            value: "access_token",
            label: _t("Access token"),
            placeholder: _t("Scan or type the card, phone, e-mail or app code"),
        },
        {
            value: "number",
            label: _t("Participant number"),
            placeholder: _t("Participant number, e.g. RP0001"),
        },
        { value: "id", label: _t("Participant id"), placeholder: _t("Participant id") },
    ];
}

/**
 * A wallet amount for the cashier. CRM.COM sends the wallet currency as a code:
 * when it is the till's currency (or missing), format like every other amount of
 * the POS; otherwise print the amount followed by the CRM.COM currency code.
 */
export function formatWalletAmount(pos, amount, currencyCode) {
    const value = Number(amount) || 0;
    if (!currencyCode || currencyCode === pos.currency?.name) {
        return pos.env.utils.formatCurrency(value);
    }
    return `${formatFloat(value, { digits: [69, 2] })} ${currencyCode}`;
}

// ------------------------------------------------------------------ rewards
// (guide, advanced flow steps 2-5: preview, spend, redemption, receipt)

export const FRONT_END_REDUCTION = "FRONT_END_REDUCTION";
export const BACK_END_REDUCTION = "BACK_END_REDUCTION";

/** Money compared in cents: CRM.COM amounts have at most two decimals. */
export function toCents(amount) {
    return Math.round((Number(amount) || 0) * 100);
}

export function roundAmount(amount) {
    return toCents(amount) / 100;
}

/** The reduction method in the cashier's words. */
export function reductionMethodLabel(method) {
    if (method === FRONT_END_REDUCTION) {
        return _t("Front-end: the rewards are deducted here, at the till");
    }
    if (method === BACK_END_REDUCTION) {
        return _t("Rewards are redeemed by CRM.COM (back-end)");
    }
    return _t("Unknown reduction method: %s", method || "-");
}

/** An amount for an input box: two decimals, the user's decimal point, no grouping. */
export function formatAmountInput(amount) {
    return roundAmount(Math.max(0, Number(amount) || 0))
        .toFixed(2)
        .replace(".", localization.decimalPoint || ".");
}

/**
 * Read the amount the cashier typed: ``{amount}`` or ``{error}`` in plain words.
 * Accepts the user's decimal point (and "."), at most two decimals, above zero.
 */
export function parseSpendAmount(text) {
    let value = String(text ?? "").trim();
    if (!value) {
        return { error: _t("Enter the amount to spend.") };
    }
    const decimalPoint = localization.decimalPoint || ".";
    if (decimalPoint !== ".") {
        value = value.split(decimalPoint).join(".");
    }
    const match = /^(\d*)(?:\.(\d*))?$/.exec(value);
    if (!match || (!match[1] && !match[2])) {
        return { error: _t("Enter the amount to spend as a number, e.g. 5.00.") };
    }
    if ((match[2] || "").length > 2) {
        return { error: _t("The amount to spend has more than two decimals.") };
    }
    const amount = roundAmount(Number(value));
    if (!(toCents(amount) > 0)) {
        return { error: _t("Enter an amount above zero.") };
    }
    return { amount };
}

/**
 * The browser's check of a spend (for comfort: the server checks again).
 * ``limits``: ``{minimum, maximum (null: none), available, due}``; ``format``
 * formats an amount. Returns the first problem in plain words, or null.
 */
export function checkSpendAmount(amount, limits, format) {
    const cents = toCents(amount);
    if (limits.minimum && cents < toCents(limits.minimum)) {
        return _t("Spend at least %s.", format(limits.minimum));
    }
    if (
        limits.maximum !== null &&
        limits.maximum !== undefined &&
        cents > toCents(limits.maximum)
    ) {
        return _t("Spend at most %s at a time.", format(limits.maximum));
    }
    if (cents > toCents(limits.available)) {
        return _t("At most %s can be spent.", format(limits.available));
    }
    if (cents > toCents(limits.due)) {
        return _t("Spend at most the amount due, %s.", format(limits.due));
    }
    return null;
}

/**
 * What the spend popup checks (the server checks again), from the current
 * (``ok``) preview of an order and the total of its sale lines: ``{minimum,
 * maximum (null: none), available, due, suggested, wallet, automatic}``.
 */
export function spendLimits(preview, saleTotal) {
    const maximum = toCents(preview.maximum_spend_amount) > 0 ? preview.maximum_spend_amount : null;
    const available = Math.max(0, roundAmount(preview.additional_spend_amount));
    const due = Math.max(0, roundAmount(saleTotal - (preview.automatic_redemption || 0)));
    const suggested = Math.min(available, due, maximum === null ? Infinity : maximum);
    return {
        minimum: roundAmount(preview.minimum_spend_amount || 0),
        maximum: maximum === null ? null : roundAmount(maximum),
        available,
        due,
        suggested: Math.max(0, roundAmount(suggested)),
        wallet: roundAmount(preview.wallet_balance || 0),
        automatic: roundAmount(preview.automatic_redemption || 0),
    };
}

// -------------------------------------------------------------- the lock

/**
 * Edits that the till itself makes on an order whose redemption is locked (the
 * redemption line, removing it on "Cancel redemption"): while ``bypass`` is
 * above zero, the lock lets synchronous changes through.
 */
export const crmcomLock = { bypass: 0 };

export function withoutCrmcomLock(fn) {
    crmcomLock.bypass++;
    try {
        return fn();
    } finally {
        crmcomLock.bypass--;
    }
}
