// Tour helpers of the cashier's CRM.COM rewards on the payment screen (preview
// panel, spend popup, discount line, receipt). Used by crmcom_spend_tour.js.

import { negate } from "@point_of_sale/../tests/tours/utils/common";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import {
    crmcomCustomerIsShown,
    openIdentifyPopup,
    popupIsClosed,
    scanIntoPopup,
} from "@pos_crmcom_rewards/../tests/tours/crmcom_identify_tour";

export const PANEL = ".payment-screen .crmcom-rewards-panel";
export const POPUP = ".modal .crmcom-spend-popup";
export const REDEMPTION_PRODUCT = "CRM.COM Rewards Redemption";
export const ALICE_CARD = "4000000000000001";

/** The number in a formatted amount ("$ 3.00" -> "3.00", "- 5,00 €" -> "-5,00"). */
function amountText(text) {
    return text.replace(/[^0-9.,-]/g, "");
}

/**
 * ``selector`` shows exactly ``amount`` (a string such as "3.00"): the trigger
 * waits for the text, the run checks it is not a longer number ("13.00").
 */
export function amountIs(selector, amount, content = null) {
    return {
        content: content || `${selector} shows ${amount}`,
        trigger: `${selector}:contains("${amount}")`,
        run() {
            const shown = amountText(this.anchor.textContent);
            if (shown !== amount && shown !== `-${amount}`) {
                throw new Error(`${selector}: expected ${amount}, the screen shows ${shown}`);
            }
        },
    };
}

// ------------------------------------------------------------- the customer

export function identifyByCard(card = ALICE_CARD, name = "Alice Adams", balance = "20.00") {
    return [
        openIdentifyPopup(),
        scanIntoPopup(card),
        popupIsClosed(),
        crmcomCustomerIsShown(name, balance),
        ProductScreen.customerIsSelected(name),
    ].flat();
}

export function addProduct(name, times = 1) {
    const steps = [];
    for (let i = 0; i < times; i++) {
        steps.push(...ProductScreen.clickDisplayedProduct(name));
    }
    return steps;
}

// -------------------------------------------------------------- the panel

export function panelIs(state) {
    return {
        content: `the rewards panel is in state '${state}' (no preview pending)`,
        trigger: `${PANEL}[data-state="${state}"][data-pending=""]`,
    };
}

/**
 * The panel of a ready preview: every value given is checked (strings such as
 * "3.00"); ``reduction`` is the text of the reduction method line.
 */
export function panelShows({
    state = "front_end",
    reduction,
    award,
    automatic,
    additional,
    minimum,
    maximum,
    wallet,
} = {}) {
    const steps = [panelIs(state)];
    if (reduction) {
        steps.push({
            content: `the reduction method reads '${reduction}'`,
            trigger: `${PANEL} .crmcom-reduction-method:contains("${reduction}")`,
        });
    }
    const rows = { award, automatic, additional, minimum, maximum, wallet };
    for (const [row, value] of Object.entries(rows)) {
        if (value !== undefined) {
            steps.push(
                amountIs(
                    `${PANEL} .crmcom-${row} .crmcom-amount`,
                    value,
                    `panel: ${row} is ${value}`
                )
            );
        }
    }
    return steps;
}

export function panelRedeemed({ redemption, award, walletAfter, partial } = {}) {
    const steps = [panelIs("redeemed")];
    if (redemption) {
        steps.push(
            amountIs(
                `${PANEL} .crmcom-redemption .crmcom-amount`,
                redemption,
                `redeemed ${redemption}`
            )
        );
    }
    if (award) {
        steps.push(amountIs(`${PANEL} .crmcom-award .crmcom-amount`, award, `award ${award}`));
    }
    if (walletAfter) {
        steps.push(
            amountIs(
                `${PANEL} .crmcom-wallet-after .crmcom-amount`,
                walletAfter,
                `wallet after ${walletAfter}`
            )
        );
    }
    if (partial) {
        steps.push({
            content: `the panel says: ${partial}`,
            trigger: `${PANEL} .crmcom-partial:contains("${partial}")`,
        });
    }
    return steps;
}

export function noSpendButton() {
    return [
        { content: "no 'Spend rewards' button", trigger: negate(".crmcom-spend-button") },
        { content: "no 'Apply rewards' button", trigger: negate(".crmcom-apply-button") },
    ];
}

export function clickSpendButton() {
    return {
        content: "click 'Spend rewards'",
        trigger: `${PANEL} .crmcom-spend-button:enabled`,
        run: "click",
    };
}

export function clickApplyButton() {
    return {
        content: "click 'Apply rewards'",
        trigger: `${PANEL} .crmcom-apply-button:enabled`,
        run: "click",
    };
}

export function clickCancelRedemptionButton() {
    return {
        content: "click 'Cancel redemption' in the panel",
        trigger: `${PANEL} .crmcom-cancel-redemption-button:enabled`,
        run: "click",
    };
}

export function dueIs(amount) {
    return amountIs(
        ".payment-screen .paymentlines-container .total",
        amount,
        `amount due is ${amount}`
    );
}

// ------------------------------------------------------------ the popup

export function spendPopupShows({ amount, available, minimum, maximum, due } = {}) {
    const steps = [Dialog.is({ title: "Spend CRM.COM rewards" })];
    if (amount) {
        steps.push({
            content: `the amount to spend is prefilled with ${amount}`,
            trigger: `${POPUP} input.crmcom-spend-amount:value("${amount}")`,
        });
    }
    const rows = { available, minimum, maximum, due };
    for (const [row, value] of Object.entries(rows)) {
        if (value !== undefined) {
            steps.push(
                amountIs(`${POPUP} .crmcom-spend-${row}`, value, `popup: ${row} is ${value}`)
            );
        }
    }
    return steps;
}

export function enterSpendAmount(amount) {
    return {
        content: `type ${amount} as the amount to spend`,
        trigger: `${POPUP} input.crmcom-spend-amount`,
        run: `edit ${amount}`,
    };
}

export function confirmSpend() {
    return {
        content: "confirm the spend",
        trigger: `${POPUP} .crmcom-spend-confirm:enabled`,
        run: "click",
    };
}

export function spendErrorIs(text) {
    return {
        content: `the popup says: ${text}`,
        trigger: `${POPUP} .crmcom-spend-error:contains("${text}")`,
    };
}

export function cancelSpendPopup() {
    return [
        {
            content: "cancel the spend popup",
            trigger: `${POPUP} .crmcom-spend-cancel`,
            run: "click",
        },
        { content: "the spend popup is closed", trigger: negate(".crmcom-spend-popup") },
    ];
}

export function spendPopupIsClosed() {
    return { content: "the spend popup is closed", trigger: negate(".crmcom-spend-popup") };
}

/** Open the popup, type ``amount``, confirm: the redemption is on the order. */
export function spend(amount) {
    return [
        clickSpendButton(),
        Dialog.is({ title: "Spend CRM.COM rewards" }),
        enterSpendAmount(amount),
        confirmSpend(),
        spendPopupIsClosed(),
    ];
}

// ---------------------------------------------------- lock and its dialog

export function lockedDialogIsShown() {
    return [
        Dialog.is({ title: "Rewards already redeemed" }),
        {
            content: "the dialog explains that the order is locked",
            trigger: '.modal .modal-body:contains("cannot be changed now")',
        },
    ];
}

export function keepTheOrder() {
    return [
        Dialog.confirm("Keep the order", ".btn-secondary"),
        {
            content: "the dialog is closed",
            trigger: negate(".modal:contains('Rewards already redeemed')"),
        },
    ];
}

export function cancelRedemptionInDialog() {
    return [
        Dialog.confirm("Cancel redemption"),
        {
            content: "the dialog is closed",
            trigger: negate(".modal:contains('Rewards already redeemed')"),
        },
    ];
}

// ----------------------------------------------------- order and receipt

export function redemptionLineIs(amount) {
    return [
        ProductScreen.orderLineHas(REDEMPTION_PRODUCT, "1.0", amount),
        amountIs(
            `.order-container .orderline:has(.product-name:contains("${REDEMPTION_PRODUCT}")) .price`,
            amount,
            `the discount line is -${amount}`
        ),
    ].flat();
}

export function noRedemptionLine() {
    return {
        content: "no CRM.COM discount line",
        trigger: negate(`.orderline .product-name:contains("${REDEMPTION_PRODUCT}")`),
    };
}

export function payCash({ remaining = "0.00", change = null } = {}) {
    return [
        PaymentScreen.clickPaymentMethod("Cash", true, change ? { change } : { remaining }),
    ].flat();
}

export function validate() {
    return [
        PaymentScreen.validateButtonIsHighlighted(true),
        PaymentScreen.clickValidate(),
        ReceiptScreen.isShown(),
        ReceiptScreen.receiptIsThere(),
        // The order reached the server before the Python side looks at it.
        Chrome.isSyncStatusConnected(),
    ].flat();
}

const RECEIPT = ".receipt-screen .pos-receipt";

export function receiptShows({ award, redemption, walletAfter, name, number } = {}) {
    const steps = [
        { content: "the receipt has its CRM.COM lines", trigger: `${RECEIPT} .crmcom-receipt` },
    ];
    if (name) {
        steps.push({
            content: `the receipt names ${name}`,
            trigger: `${RECEIPT} .crmcom-receipt-name:contains("${name}")`,
        });
    }
    if (number) {
        steps.push({
            content: `the receipt shows participant number ${number}`,
            trigger: `${RECEIPT} .crmcom-receipt-number:contains("${number}")`,
        });
    }
    if (award) {
        steps.push(
            amountIs(`${RECEIPT} .crmcom-receipt-award span`, award, `receipt: awarded ${award}`)
        );
    }
    if (redemption) {
        steps.push(
            amountIs(
                `${RECEIPT} .crmcom-receipt-redemption span`,
                redemption,
                `receipt: redeemed ${redemption}`
            )
        );
    } else {
        steps.push({
            content: "the receipt shows no redemption",
            trigger: `${RECEIPT}:not(:has(.crmcom-receipt-redemption))`,
        });
    }
    if (walletAfter) {
        steps.push(
            amountIs(
                `${RECEIPT} .crmcom-receipt-wallet-after span`,
                walletAfter,
                `receipt: wallet ${walletAfter}`
            )
        );
    }
    return steps;
}

export function receiptHasNoRewards() {
    return {
        content: "the receipt prints no CRM.COM lines",
        trigger: `${RECEIPT}:not(:has(.crmcom-receipt))`,
    };
}

export function nextOrder() {
    return [ReceiptScreen.clickNextOrder(), ProductScreen.isShown()].flat();
}
