import { patch } from "@web/core/utils/patch";
import { ControlButtons } from "@point_of_sale/app/screens/product_screen/control_buttons/control_buttons";

patch(ControlButtons.prototype, {
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
