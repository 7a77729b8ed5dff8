import { roundPrecision } from "@web/core/utils/numbers";
import { roundCurrency } from "@point_of_sale/app/models/utils/currency";

/**
 * Refunds of an order paid with a CRM.COM redemption (README, Policies, Refunds).
 *
 * The refund keeps back the redemption share of the returned goods for the wallet:
 * share = redemption x value returned / value sold (amounts with taxes, after line
 * discounts, the redemption line left out), rounded to the currency, counted on
 * everything returned so far so that successive refunds add up; once every item
 * is back, the refund takes what is left of the redemption. The server computes
 * the same and flags a refund that does not keep it back
 * (flows/refund.py, check_redemption_share).
 *
 * The share is one line refunding the redemption line (``refunded_orderline_id``):
 * its quantity is the same part of the redemption line's quantity (rounded to the
 * unit of measure; the last refund takes what is left), so Odoo's refunded
 * quantity of the redemption line goes from 0 to 1 with the refunds, and its unit
 * price makes quantity x price the share exactly.
 *
 * @param {Object[]} refundLines the refund's lines that give goods back (those
 *        with a ``refunded_orderline_id`` that is not the redemption line)
 * @param {(product: Object) => boolean} isRedemptionProduct
 * @param {Object} currency the refund's currency
 * @returns {{original, redemptionLine, share, qty}|null} the refunded order, its
 *          redemption line, the share and the quantity of the share line; null
 *          when the refunded order has no redemption
 */
export function computeRefundShare(refundLines, isRedemptionProduct, currency) {
    const original = refundLines[0]?.refunded_orderline_id.order_id;
    if (!original) {
        return null;
    }
    const redemptionLines = original.lines.filter((line) => isRedemptionProduct(line.product_id));
    const redemptionLine = redemptionLines.find((line) => line.qty > 0);
    if (!redemptionLine) {
        return null;
    }
    const given = -redemptionLines.reduce((sum, line) => sum + line.price_subtotal_incl, 0);
    const sold = original.lines.filter(
        (line) => line.qty > 0 && !isRedemptionProduct(line.product_id)
    );
    const valueSold = sold.reduce((sum, line) => sum + line.price_subtotal_incl, 0);
    const returnedNow = new Map();
    for (const line of refundLines) {
        const sourceLine = line.refunded_orderline_id;
        returnedNow.set(sourceLine, (returnedNow.get(sourceLine) || 0) - line.qty);
    }
    const rounding = redemptionLine.product_id.uom_id?.rounding || 0.01;
    const state = (withNow) => {
        const returned = (line) =>
            (line.refunded_qty || 0) + (withNow ? returnedNow.get(line) || 0 : 0);
        const allBack = sold.every(
            (line) => roundPrecision(returned(line) - line.qty, rounding) >= 0
        );
        const fraction = allBack
            ? 1
            : valueSold
              ? sold.reduce(
                    (sum, line) =>
                        sum +
                        (line.price_subtotal_incl * Math.min(returned(line), line.qty)) / line.qty,
                    0
                ) / valueSold
              : 0;
        return {
            allBack,
            amount: allBack
                ? roundCurrency(given, currency)
                : roundCurrency(given * fraction, currency),
            qty: roundPrecision(redemptionLine.qty * fraction, rounding),
        };
    };
    const before = state(false);
    const after = state(true);
    const share = roundCurrency(after.amount - before.amount, currency);
    const left = roundPrecision(redemptionLine.qty - (redemptionLine.refunded_qty || 0), rounding);
    let qty = after.allBack ? left : roundPrecision(after.qty - before.qty, rounding);
    // Never a line of no quantity for an amount, nor more than is left.
    qty = Math.min(Math.max(qty, rounding), Math.max(left, rounding));
    return { original, redemptionLine, share, qty };
}
