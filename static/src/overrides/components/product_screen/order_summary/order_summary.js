import { patch } from "@web/core/utils/patch";
import { OrderSummary } from "@point_of_sale/app/screens/product_screen/order_summary/order_summary";
import { formatWalletAmount } from "@pos_crmcom_rewards/app/crmcom_utils";

patch(OrderSummary.prototype, {
    crmcomFormatWallet(customer) {
        return formatWalletAmount(this.pos, customer.wallet_balance, customer.currency);
    },

    /**
     * Policy "block": the numpad changes no line (quantity, discount, price,
     * removal, the redemption line included) of an order whose CRM.COM
     * redemption is recorded; the cashier is told why and may cancel it.
     */
    async updateSelectedOrderline() {
        const order = this.pos.get_order();
        if (order?.crmcomLocked && order.get_selected_orderline()) {
            this.numberBuffer.reset();
            this.pos.crmcomShowLocked(order);
            return;
        }
        return await super.updateSelectedOrderline(...arguments);
    },
});
