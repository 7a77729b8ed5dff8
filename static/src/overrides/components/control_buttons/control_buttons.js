import { patch } from "@web/core/utils/patch";
import { ControlButtons } from "@point_of_sale/app/screens/product_screen/control_buttons/control_buttons";
import { CrmcomIdentifyPopup } from "@pos_crmcom_rewards/app/identify_popup/identify_popup";

patch(ControlButtons.prototype, {
    /** "CRM.COM Rewards": identify the customer of the current order. */
    onClickCrmcomIdentify() {
        const order = this.pos.get_order();
        if (!order) {
            return;
        }
        this.dialog.add(CrmcomIdentifyPopup, { order });
    },

    // Pricelist and taxes change the amounts of a redeemed order: asked first.
    async clickPricelist() {
        if (this.pos.crmcomRefuseChange()) {
            return;
        }
        return await super.clickPricelist(...arguments);
    },

    async clickFiscalPosition() {
        if (this.pos.crmcomRefuseChange()) {
            return;
        }
        return await super.clickFiscalPosition(...arguments);
    },
});
