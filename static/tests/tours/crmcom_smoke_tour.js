// Smoke tour for pos_crmcom_rewards: proves that the POS boots with this
// addon's assets (point_of_sale._assets_pos + web.assets_tests), then sells one
// product for cash.  Driven by tests/test_pos_smoke.py, which checks afterwards
// that the paid order reached the database.
//
// Uses the data of point_of_sale's TestPointOfSaleHttpCommon: product
// "Desk Organizer" (5.10, no tax) and the payment method "Cash".

import { registry } from "@web/core/registry";
import { waitForLoading } from "@point_of_sale/../tests/tours/utils/common";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";

registry.category("web_tour.tours").add("pos_crmcom_rewards_smoke", {
    steps: () =>
        [
            waitForLoading(),
            // "Open Register" on the login screen, then confirm the opening
            // cash control (the test opens a fresh session every time).
            Chrome.startPoS(),
            Dialog.confirm("Open Register"),
            ProductScreen.clickDisplayedProduct("Desk Organizer", true, "1.0", "5.10"),
            ProductScreen.clickPayButton(),
            PaymentScreen.isShown(),
            // Clicking the method pre-fills the exact remaining amount.
            PaymentScreen.clickPaymentMethod("Cash", true, { remaining: "0.00" }),
            PaymentScreen.validateButtonIsHighlighted(true),
            PaymentScreen.clickValidate(),
            // The receipt screen only shows once the order is validated.
            ReceiptScreen.isShown(),
            ReceiptScreen.receiptIsThere(),
            // Wait until the order is synced to the server before leaving.
            Chrome.isSyncStatusConnected(),
            ReceiptScreen.clickNextOrder(),
            ProductScreen.isShown(),
            Chrome.endTour(),
        ].flat(),
});
