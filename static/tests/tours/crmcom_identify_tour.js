// Tours of the cashier's CRM.COM customer identification (guide step 1), driven
// by tests/test_pos_identify_tour.py against the in-process CRM.COM simulator
// ("test" scenario). The Python tests check the database and the simulator
// afterwards; these steps check what the cashier sees.
//
// Test data: point_of_sale's TestPointOfSaleHttpCommon ("Desk Organizer" 5.10 and
// "Monitor Stand" 3.19 with barcode 0123456789, no taxes; payment method "Cash")
// and the simulator's participants: RP0001 Alice Adams (card 4000000000000001,
// wallet 20.00), RP0002 Bob Brown (card 4000000000000002, wallet 30.00), RP0004
// Dave Dean (card 4000000000000004, membership terminated).

import { registry } from "@web/core/registry";
import {
    negate,
    refresh,
    scan_barcode,
    waitForLoading,
} from "@point_of_sale/../tests/tours/utils/common";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";

const POPUP = ".modal .crmcom-identify-popup";
const INPUT = `${POPUP} input.crmcom-identifier`;
const WITHOUT_REWARDS = "You can finish the sale without rewards.";

// ------------------------------------------------------------------ helpers

export function openRegister() {
    return [waitForLoading(), Chrome.startPoS(), Dialog.confirm("Open Register")].flat();
}

export function openIdentifyPopup() {
    return [
        {
            content: "click the CRM.COM Rewards control button",
            trigger: ".control-buttons button.crmcom-identify-button",
            run: "click",
        },
        Dialog.is({ title: "Identify CRM.COM customer" }),
        { content: "the identify popup is open", trigger: INPUT },
    ];
}

export function kindIsSelected(kind) {
    return {
        content: `identifier kind '${kind}' is selected`,
        trigger: `${POPUP} .crmcom-kind.active[data-kind="${kind}"]`,
    };
}

export function chooseKind(kind) {
    return [
        {
            content: `choose identifier kind '${kind}'`,
            trigger: `${POPUP} .crmcom-kind[data-kind="${kind}"]`,
            run: "click",
        },
        kindIsSelected(kind),
    ];
}

export function identifierInputHasFocus() {
    return {
        content: "the identifier input has the focus (a scanner can type into it)",
        trigger: INPUT,
        run() {
            const input = document.querySelector(INPUT);
            if (document.activeElement !== input) {
                throw new Error("the identifier input is not focused when the popup opens");
            }
        },
    };
}

/** What a barcode scanner does in the focused input: the characters, then Enter. */
export function scanIntoPopup(value) {
    return [
        { content: `type '${value}'`, trigger: INPUT, run: `edit ${value}` },
        { content: "press Enter (end of the scan)", trigger: INPUT, run: "press Enter" },
    ];
}

export function clickConfirm() {
    return {
        content: "confirm the identification",
        trigger: `${POPUP} .crmcom-identify-confirm:enabled`,
        run: "click",
    };
}

export function clickCancel() {
    return {
        content: "cancel the identification",
        trigger: `${POPUP} .crmcom-identify-cancel`,
        run: "click",
    };
}

export function popupIsClosed() {
    return { content: "the identify popup is closed", trigger: negate(".crmcom-identify-popup") };
}

export function errorIsShown(reason, text) {
    return {
        content: `the popup says why (${reason}): ${text}`,
        trigger: `${POPUP} .crmcom-identify-error[data-reason="${reason}"]:contains("${text}")`,
    };
}

export function crmcomCustomerIsShown(name, balance) {
    return {
        content: `the order shows CRM.COM customer ${name} with wallet ${balance}`,
        trigger:
            `.product-screen .crmcom-customer:has(.crmcom-customer-name:contains("${name}"))` +
            `:has(.crmcom-wallet-balance:contains("${balance}"))`,
    };
}

export function noCrmcomCustomer() {
    return [
        { content: "no CRM.COM customer on the order", trigger: negate(".crmcom-customer") },
        {
            content: "no customer on the order",
            trigger: `.product-screen .set-partner:not(:has(.text-action)):contains("Customer")`,
        },
    ];
}

export function payCashAndStartNextOrder() {
    return [
        ProductScreen.clickPayButton(),
        PaymentScreen.isShown(),
        PaymentScreen.clickPaymentMethod("Cash", true, { remaining: "0.00" }),
        PaymentScreen.validateButtonIsHighlighted(true),
        PaymentScreen.clickValidate(),
        ReceiptScreen.isShown(),
        ReceiptScreen.receiptIsThere(),
        // The order reached the server before the Python side looks at it.
        Chrome.isSyncStatusConnected(),
        ReceiptScreen.clickNextOrder(),
        ProductScreen.isShown(),
    ].flat();
}

// -------------------------------------------------------------------- tours

// Card (access token, the default kind) typed like a scanner into the popup,
// then a normal sale to Alice.
registry.category("web_tour.tours").add("pos_crmcom_identify_card", {
    steps: () =>
        [
            openRegister(),
            noCrmcomCustomer(),
            openIdentifyPopup(),
            kindIsSelected("access_token"),
            identifierInputHasFocus(),
            scanIntoPopup("4000000000000001"),
            popupIsClosed(),
            crmcomCustomerIsShown("Alice Adams", "20.00"),
            ProductScreen.customerIsSelected("Alice Adams"),
            ProductScreen.clickDisplayedProduct("Desk Organizer", true, "1.0", "5.10"),
            crmcomCustomerIsShown("Alice Adams", "20.00"),
            payCashAndStartNextOrder(),
            // The next order starts without the previous customer.
            noCrmcomCustomer(),
            Chrome.endTour(),
        ].flat(),
});

// Participant number, confirmed while CRM.COM is slow (the Python side delays the
// answer): the confirm button is disabled meanwhile and a second Enter sends no
// second call. The identification survives a reload of the till.
registry.category("web_tour.tours").add("pos_crmcom_identify_number", {
    steps: () =>
        [
            openRegister(),
            openIdentifyPopup(),
            chooseKind("number"),
            { content: "type the participant number", trigger: INPUT, run: "edit RP0002" },
            clickConfirm(),
            {
                content: "while CRM.COM answers, the confirm button is disabled",
                trigger: `${POPUP} .crmcom-identify-confirm:disabled`,
            },
            { content: "the popup says it is asking", trigger: `${POPUP} .crmcom-identify-busy` },
            { content: "Enter again while busy", trigger: INPUT, run: "press Enter" },
            popupIsClosed(),
            crmcomCustomerIsShown("Bob Brown", "30.00"),
            ProductScreen.customerIsSelected("Bob Brown"),
            ProductScreen.clickDisplayedProduct("Desk Organizer", true, "1.0", "5.10"),
            refresh(),
            waitForLoading(),
            ProductScreen.orderLineHas("Desk Organizer", "1.0", "5.10"),
            crmcomCustomerIsShown("Bob Brown", "30.00"),
            ProductScreen.customerIsSelected("Bob Brown"),
            payCashAndStartNextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// Unknown card, then a terminated membership: the popup says why, the order keeps
// no customer, and the sale goes on without rewards.
registry.category("web_tour.tours").add("pos_crmcom_identify_refused", {
    steps: () =>
        [
            openRegister(),
            openIdentifyPopup(),
            scanIntoPopup("4999999999999999"),
            errorIsShown("not_found", "No CRM.COM customer has this identifier."),
            scanIntoPopup("4000000000000004"),
            errorIsShown("terminated", "is not active"),
            clickCancel(),
            popupIsClosed(),
            noCrmcomCustomer(),
            ProductScreen.clickDisplayedProduct("Desk Organizer", true, "1.0", "5.10"),
            noCrmcomCustomer(),
            payCashAndStartNextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// CRM.COM down, too slow, or not configured (the Python side arranges which):
// the cashier reads that the sale can go on, and it does.
for (const reason of ["unavailable", "timeout", "not_configured"]) {
    registry.category("web_tour.tours").add(`pos_crmcom_identify_${reason}`, {
        steps: () =>
            [
                openRegister(),
                openIdentifyPopup(),
                scanIntoPopup("4000000000000001"),
                errorIsShown(reason, WITHOUT_REWARDS),
                clickCancel(),
                popupIsClosed(),
                noCrmcomCustomer(),
                ProductScreen.clickDisplayedProduct("Desk Organizer", true, "1.0", "5.10"),
                payCashAndStartNextOrder(),
                Chrome.endTour(),
            ].flat(),
    });
}

// Scanning on the product screen without the popup: a product barcode still
// sells the product, a code nobody knows gives Odoo's "Unknown Barcode", and a
// CRM.COM card identifies the customer.
registry.category("web_tour.tours").add("pos_crmcom_identify_scan", {
    steps: () =>
        [
            openRegister(),
            scan_barcode("0123456789"),
            ProductScreen.selectedOrderlineHas("Monitor Stand", "1.0", "3.19"),
            noCrmcomCustomer(),
            scan_barcode("4999999999999999"),
            {
                content: "Odoo's unknown barcode notification",
                trigger: '.o_notification:contains("Unknown Barcode")',
            },
            noCrmcomCustomer(),
            scan_barcode("4000000000000001"),
            crmcomCustomerIsShown("Alice Adams", "20.00"),
            ProductScreen.customerIsSelected("Alice Adams"),
            payCashAndStartNextOrder(),
            Chrome.endTour(),
        ].flat(),
});
