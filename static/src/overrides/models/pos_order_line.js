import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { roundDecimals } from "@web/core/utils/numbers";
import { PosOrderline } from "@point_of_sale/app/models/pos_order_line";
import { crmcomLock } from "@pos_crmcom_rewards/app/crmcom_utils";

function toNumber(value) {
    return typeof value === "number" ? value : parseFloat("" + (value || 0)) || 0;
}

/**
 * Lines of an order whose CRM.COM redemption is recorded keep their quantity,
 * price and discount (policy "block"; the screens explain and offer "Cancel
 * redemption", see PosStore.crmcomShowLocked). Setting the same value again is
 * no change and goes through (Odoo re-applies prices when it builds a line).
 *
 * In a refund, the line that keeps back the redemption share (added by the till,
 * see PosOrder.crmcomUpdateRefundShare) is not changed by hand, and follows the
 * quantities of the refunded items.
 */
patch(PosOrderline.prototype, {
    _crmcomLocked() {
        return Boolean(this.order_id?.crmcomLocked) && !crmcomLock.bypass;
    },

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
        if (this._crmcomLocked() && toNumber(quantity) !== this.qty) {
            return {
                title: _t("Rewards already redeemed"),
                body: _t(
                    "CRM.COM has already redeemed rewards on this order: cancel the redemption before changing it."
                ),
            };
        }
        const result = super.set_quantity(...arguments);
        if (result === true && this.refunded_orderline_id) {
            this.order_id.crmcomUpdateRefundShare();
        }
        return result;
    },

    set_discount(discount) {
        if (this._crmcomLocked() && toNumber(discount) !== (this.discount || 0)) {
            return;
        }
        return super.set_discount(...arguments);
    },

    set_unit_price(price) {
        if (
            this._crmcomLocked() &&
            roundDecimals(toNumber(price), 6) !== roundDecimals(this.price_unit || 0, 6)
        ) {
            return;
        }
        return super.set_unit_price(...arguments);
    },

    /** The discount line reads as the product's name, without its internal reference. */
    get_full_product_name() {
        if (this.order_id?.crmcomIsRedemptionLine?.(this)) {
            return this.product_id.name || super.get_full_product_name(...arguments);
        }
        return super.get_full_product_name(...arguments);
    },

    getDisplayClasses() {
        return {
            ...super.getDisplayClasses(),
            "crmcom-redemption-line fst-italic": Boolean(
                this.order_id?.crmcomIsRedemptionLine?.(this)
            ),
        };
    },
});
