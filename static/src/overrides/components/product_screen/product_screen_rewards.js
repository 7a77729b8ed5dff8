import { patch } from "@web/core/utils/patch";
import { ProductScreen } from "@point_of_sale/app/screens/product_screen/product_screen";

patch(ProductScreen.prototype, {
    // A customer's barcode would change the customer of a redeemed order.
    async _barcodePartnerAction() {
        if (this.pos.crmcomRefuseChange()) {
            return;
        }
        return await super._barcodePartnerAction(...arguments);
    },
});
