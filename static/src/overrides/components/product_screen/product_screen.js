import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { ProductScreen } from "@point_of_sale/app/screens/product_screen/product_screen";
import { formatWalletAmount } from "@pos_crmcom_rewards/app/crmcom_utils";

/**
 * Scanning a CRM.COM card on the product screen, without opening the popup.
 *
 * Choice: Odoo 18 dispatches a scan by the barcode nomenclature's rule type, and a
 * CRM.COM card matches no dedicated rule: with the default nomenclature it is
 * parsed as a "product" code (the catch-all rule), or as a "client" code when it
 * happens to look like one. A new rule type would need a server-side selection
 * value and a nomenclature rule per shop; instead, when rewards are on, a scanned
 * code that matches no product (nor product packaging) and no customer barcode is
 * tried as a CRM.COM access token. Odoo's own "Unknown Barcode" notification is
 * kept for codes that CRM.COM does not know either. Odoo 18 has no "unknown
 * barcode" hook: both actions end in barcodeReader.showNotFoundNotification().
 */
patch(ProductScreen.prototype, {
    async _barcodeProductAction(code) {
        if (!this.pos.crmcomEnabled || code.type !== "product") {
            return super._barcodeProductAction(...arguments);
        }
        // Loads the product into the POS when the server has it, so that the
        // lookup again in super is a local one.
        if (await this._getProductByBarcode(code)) {
            return super._barcodeProductAction(...arguments);
        }
        if (await this._getPartnerByBarcode(code)) {
            return this._barcodePartnerAction(code);
        }
        return this._crmcomScanAccessToken(code);
    },

    async _barcodePartnerAction(code) {
        // A customer's barcode would change the customer of a redeemed order.
        if (this.pos.crmcomRefuseChange()) {
            return;
        }
        if (!this.pos.crmcomEnabled || (await this._getPartnerByBarcode(code))) {
            return super._barcodePartnerAction(...arguments);
        }
        return this._crmcomScanAccessToken(code);
    },

    async _crmcomScanAccessToken(code) {
        const result = await this.pos.crmcomIdentify("access_token", code.code);
        if (result.ok) {
            const wallet = formatWalletAmount(this.pos, result.wallet_balance, result.currency);
            this.notification.add(_t("Wallet: %s", wallet), {
                type: "success",
                title: result.name,
            });
            return;
        }
        this.sound.play("error");
        if (["not_found", "invalid"].includes(result.reason)) {
            // Neither a product, a customer nor a CRM.COM card.
            this.barcodeReader.showNotFoundNotification(code);
            return;
        }
        this.notification.add(result.message, {
            type: "warning",
            title: _t("CRM.COM Rewards"),
        });
    },
});
