import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";
import { useService } from "@web/core/utils/hooks";
import { TicketScreen } from "@point_of_sale/app/screens/ticket_screen/ticket_screen";

/**
 * Refunds of an order paid with CRM.COM rewards: the cashier picks the returned
 * items; the till adds the redemption share of those items by itself (see
 * PosOrder.crmcomUpdateRefundShare), so the redemption line is not picked.
 */
patch(TicketScreen.prototype, {
    setup() {
        super.setup(...arguments);
        this.notification = useService("notification");
    },

    _crmcomIsRedemptionLine(orderline) {
        return Boolean(orderline?.order_id?.crmcomIsRedemptionProduct(orderline.product_id));
    },

    _crmcomRefuseRedemptionLine() {
        this.notification.add(
            _t(
                "The till gives back the CRM.COM rewards of the returned items by itself: choose the items to refund."
            ),
            { type: "warning" }
        );
    },

    _onUpdateSelectedOrderline() {
        const order = this.getSelectedOrder();
        // eslint-disable-next-line eqeqeq -- loose like Odoo's TicketScreen: the selected id may be a string
        const orderline = order?.lines.find((line) => line.id == this.getSelectedOrderlineId());
        if (this._crmcomIsRedemptionLine(orderline)) {
            this._crmcomRefuseRedemptionLine();
            return this.numberBuffer.reset();
        }
        return super._onUpdateSelectedOrderline(...arguments);
    },

    _prepareAutoRefundOnOrder(order) {
        // eslint-disable-next-line eqeqeq -- loose like Odoo's TicketScreen: the selected id may be a string
        const orderline = order.lines.find((line) => line.id == this.getSelectedOrderlineId());
        if (this._crmcomIsRedemptionLine(orderline)) {
            this._crmcomRefuseRedemptionLine();
            return false;
        }
        return super._prepareAutoRefundOnOrder(...arguments);
    },

    postRefund(destinationOrder) {
        super.postRefund(...arguments);
        destinationOrder.crmcomUpdateRefundShare();
    },
});
