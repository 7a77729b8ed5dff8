import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { roundPrecision } from "@web/core/utils/numbers";
import { PosOrder } from "@point_of_sale/app/models/pos_order";
import { PosOrderline } from "@point_of_sale/app/models/pos_order_line";
import { roundCurrency } from "@point_of_sale/app/models/utils/currency";
import { toCents } from "@pos_crmcom_rewards/app/crmcom_utils";

/**
 * Refunds of an order paid with a CRM.COM redemption (README, Policies, Refunds).
 *
 * The refund keeps back the redemption share of the returned goods for the wallet:
 * share = redemption x value returned / value sold (amounts with taxes, after line
 * discounts, the redemption line left out), rounded to the currency, counted on
 * everything returned so far so that successive refunds add up; once every item
 * is back, the refund takes what is left of the redemption. The server computes
 * the same and flags a refund that does not keep it back
 * (pos.order._crmcom_check_redemption_share).
 *
 * The share is one line refunding the redemption line (``refunded_orderline_id``):
 * its quantity is the same part of the redemption line's quantity (rounded to the
 * unit of measure; the last refund takes what is left), so Odoo's refunded
 * quantity of the redemption line goes from 0 to 1 with the refunds, and its unit
 * price makes quantity x price the share exactly.
 */
patch(PosOrder.prototype, {
    crmcomIsRedemptionProduct(product) {
        const redemptionId = this.config?.crmcom_redemption_product_id?.id;
        return Boolean(redemptionId) && product?.id === redemptionId;
    },

    /** The line of this refund that keeps back the redemption share, if any. */
    get crmcomRefundShareLine() {
        return this.lines.find(
            (line) =>
                line.refunded_orderline_id &&
                this.crmcomIsRedemptionProduct(line.refunded_orderline_id.product_id)
        );
    },

    /** {original, redemptionLine, share, qty} of this refund, or null. */
    crmcomRefundShare() {
        const refundLines = this.lines.filter(
            (line) =>
                line.refunded_orderline_id &&
                !this.crmcomIsRedemptionProduct(line.refunded_orderline_id.product_id)
        );
        const original = refundLines[0]?.refunded_orderline_id.order_id;
        if (!original) {
            return null;
        }
        const redemptionLines = original.lines.filter((line) =>
            this.crmcomIsRedemptionProduct(line.product_id)
        );
        const redemptionLine = redemptionLines.find((line) => line.qty > 0);
        if (!redemptionLine) {
            return null;
        }
        const given = -redemptionLines.reduce((sum, line) => sum + line.price_subtotal_incl, 0);
        const sold = original.lines.filter(
            (line) => line.qty > 0 && !this.crmcomIsRedemptionProduct(line.product_id)
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
                            (line.price_subtotal_incl * Math.min(returned(line), line.qty)) /
                                line.qty,
                        0
                    ) / valueSold
                  : 0;
            return {
                allBack,
                amount: allBack
                    ? roundCurrency(given, this.currency)
                    : roundCurrency(given * fraction, this.currency),
                qty: roundPrecision(redemptionLine.qty * fraction, rounding),
            };
        };
        const before = state(false);
        const after = state(true);
        const share = roundCurrency(after.amount - before.amount, this.currency);
        const left = roundPrecision(
            redemptionLine.qty - (redemptionLine.refunded_qty || 0),
            rounding
        );
        let qty = after.allBack ? left : roundPrecision(after.qty - before.qty, rounding);
        // Never a line of no quantity for an amount, nor more than is left.
        qty = Math.min(Math.max(qty, rounding), Math.max(left, rounding));
        return { original, redemptionLine, share, qty };
    },

    /** Add, update or remove the share line so that it matches the refund lines. */
    crmcomUpdateRefundShare() {
        if (this.finalized) {
            return;
        }
        const result = this.crmcomRefundShare();
        const shareLine = this.crmcomRefundShareLine;
        if (!result || toCents(result.share) <= 0) {
            if (shareLine) {
                shareLine.delete();
            }
            return;
        }
        const values = {
            qty: -result.qty,
            price_unit: -result.share / result.qty,
            discount: 0,
            price_type: "manual",
        };
        if (shareLine) {
            shareLine.update(values);
        } else {
            this.models["pos.order.line"].create({
                ...values,
                order_id: this,
                product_id: result.redemptionLine.product_id,
                tax_ids: [],
                refunded_orderline_id: result.redemptionLine,
            });
        }
        this.recomputeOrderData();
    },
});

patch(PosOrderline.prototype, {
    get crmcomIsRefundShare() {
        return Boolean(
            this.refunded_orderline_id &&
                this.order_id?.crmcomIsRedemptionProduct(this.refunded_orderline_id.product_id)
        );
    },

    set_quantity(quantity) {
        if (this.crmcomIsRefundShare) {
            return {
                title: _t("Added by the till"),
                body: _t(
                    "This line gives the redemption share of the returned goods back to the CRM.COM wallet: change the refunded items instead."
                ),
            };
        }
        const result = super.set_quantity(...arguments);
        if (result === true && this.refunded_orderline_id) {
            this.order_id.crmcomUpdateRefundShare();
        }
        return result;
    },
});

patch(PosOrder.prototype, {
    removeOrderline(line) {
        const result = super.removeOrderline(...arguments);
        if (result && line.refunded_orderline_id && !line.crmcomIsRefundShare) {
            this.crmcomUpdateRefundShare();
        }
        return result;
    },
});
