import { patch } from "@web/core/utils/patch";
import { OrderSummary } from "@point_of_sale/app/screens/product_screen/order_summary/order_summary";
import { formatWalletAmount } from "@pos_crmcom_rewards/app/crmcom_utils";

patch(OrderSummary.prototype, {
    crmcomFormatWallet(customer) {
        return formatWalletAmount(this.pos, customer.wallet_balance, customer.currency);
    },
});
