import { patch } from "@web/core/utils/patch";
import { PaymentScreen } from "@point_of_sale/app/screens/payment_screen/payment_screen";
import { CrmcomRewardsPanel } from "@pos_crmcom_rewards/app/rewards_panel/rewards_panel";

patch(PaymentScreen, {
    components: { ...PaymentScreen.components, CrmcomRewardsPanel },
});

patch(PaymentScreen.prototype, {
    /**
     * Front-end reduction: when CRM.COM spends rewards by itself on this order
     * (instant / automatic spend), its discount must be on the order before it is
     * paid. Validation waits for a preview under way (bounded), then asks to
     * "Apply rewards" if needed. Nothing else is ever blocked: without an answer
     * from CRM.COM, or once applying failed, the sale goes on.
     */
    async validateOrder(isForceValidate) {
        const order = this.currentOrder;
        if (this.pos.crmcomEnabled && order && !order.finalized) {
            await this.pos.crmcomPreviewSettled(order);
            const block = this.pos.crmcomValidationBlock(order);
            if (block) {
                this.pos.crmcomAskToApply(order, block);
                return;
            }
        }
        return await super.validateOrder(...arguments);
    },
});
