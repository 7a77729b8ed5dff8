// Tours of the cashier's CRM.COM rewards on the payment screen (guide, advanced
// flow steps 2-5): the preview panel, "Spend rewards", the discount line, the
// lock of a redeemed order, the receipt. Driven by tests/test_pos_spend_tour.py
// against the in-process CRM.COM simulator; the Python side checks the database
// and the simulator afterwards, these steps check what the cashier sees.
//
// Test data (see the Python test): "Coffee" 4.00 (CRM.COM code COFFEE) and
// "Sandwich" 7.50 (code SANDWICH), no taxes; Alice Adams (card 4000000000000001,
// RP0001, wallet 20.00). Offers: 5% on everything, +10% on COFFEE, +20% on
// SANDWICH spent instantly; spend limits 1.00-50.00 per spend.
// Five coffees = 20.00: award 1.00 + 2.00 = 3.00, available to spend 20.00.

/* global posmodel */

import { registry } from "@web/core/registry";
import { negate, refresh, waitForLoading } from "@point_of_sale/../tests/tours/utils/common";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as TicketScreen from "@point_of_sale/../tests/tours/utils/ticket_screen_util";
import { openRegister } from "@pos_crmcom_rewards/../tests/tours/crmcom_identify_tour";
import * as Rewards from "@pos_crmcom_rewards/../tests/tours/utils/crmcom_spend_util";

const tours = registry.category("web_tour.tours");

const FIVE_COFFEES = {
    reduction: "deducted here, at the till",
    award: "3.00",
    automatic: "0.00",
    additional: "20.00",
    minimum: "1.00",
    maximum: "50.00",
    wallet: "20.00",
};

function aliceBuysFiveCoffees() {
    return [
        openRegister(),
        Rewards.identifyByCard(),
        Rewards.addProduct("Coffee", 5),
        ProductScreen.selectedOrderlineHas("Coffee", "5.0", "20.00"),
        ProductScreen.clickPayButton(),
        PaymentScreen.isShown(),
    ].flat();
}

// Panel content, a spend within the limits, the discount line, the receipt, and
// the receipt's data again for the paid order read back from the server (what a
// reprint prints after the till was reloaded).
tours.add("pos_crmcom_spend_within_limits", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows(FIVE_COFFEES),
            Rewards.dueIs("20.00"),
            Rewards.clickSpendButton(),
            Rewards.spendPopupShows({
                amount: "20.00",
                available: "20.00",
                minimum: "1.00",
                maximum: "50.00",
                due: "20.00",
            }),
            Rewards.enterSpendAmount("5"),
            Rewards.confirmSpend(),
            Rewards.spendPopupIsClosed(),
            Rewards.panelRedeemed({ redemption: "5.00", award: "3.00", walletAfter: "18.00" }),
            Rewards.dueIs("15.00"),
            // One discount line of -5.00 on the order.
            PaymentScreen.clickBack(),
            ProductScreen.isShown(),
            Rewards.redemptionLineIs("5.00"),
            ProductScreen.totalAmountIs("15.00"),
            ProductScreen.clickPayButton(),
            Rewards.panelRedeemed({ redemption: "5.00" }),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.receiptShows({
                name: "Alice Adams",
                number: "RP0001",
                award: "3.00",
                redemption: "5.00",
                walletAfter: "18.00",
            }),
            {
                content: "the receipt lists the discount line",
                trigger: `.receipt-screen .pos-receipt .orderline:contains("${Rewards.REDEMPTION_PRODUCT}")`,
            },
            Rewards.nextOrder(),
            // Reprint after a reload: the order comes back from the server.
            refresh(),
            waitForLoading(),
            ProductScreen.isShown(),
            Chrome.clickMenuOption("Orders"),
            TicketScreen.selectFilter("Paid"),
            TicketScreen.selectOrder("-0001"),
            {
                content: "the receipt data of the paid order (as loaded from the server)",
                trigger: ".ticket-screen .order-row",
                run() {
                    const order = posmodel.models["pos.order"].find(
                        (o) => o.finalized && o.pos_reference?.endsWith("-0001")
                    );
                    if (!order) {
                        throw new Error("the paid order is not loaded");
                    }
                    const data = posmodel.orderExportForPrinting(order).crmcomRewards;
                    const expected = {
                        customer_name: "Alice Adams",
                        participant_number: "RP0001",
                        award_amount: 3,
                        redemption_amount: 5,
                        wallet_after: 18,
                    };
                    if (JSON.stringify(data) !== JSON.stringify(expected)) {
                        throw new Error(
                            `reprint data: expected ${JSON.stringify(expected)}, got ${JSON.stringify(data)}`
                        );
                    }
                },
            },
            Chrome.endTour(),
        ].flat(),
});

// The browser refuses what the limits forbid, in plain words; nothing reaches
// CRM.COM; the sale goes on without rewards (award and wallet from the preview
// on the receipt).
tours.add("pos_crmcom_spend_refused", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows(FIVE_COFFEES),
            Rewards.clickSpendButton(),
            Rewards.spendPopupShows({ amount: "20.00" }),
            Rewards.enterSpendAmount("0.50"),
            Rewards.confirmSpend(),
            Rewards.spendErrorIs("Spend at least"),
            Rewards.enterSpendAmount("25"),
            Rewards.confirmSpend(),
            Rewards.spendErrorIs("At most"),
            Rewards.spendErrorIs("can be spent"),
            Rewards.enterSpendAmount("5.555"),
            Rewards.confirmSpend(),
            Rewards.spendErrorIs("more than two decimals"),
            Rewards.enterSpendAmount("five"),
            Rewards.confirmSpend(),
            Rewards.spendErrorIs("as a number"),
            Rewards.enterSpendAmount("0"),
            Rewards.confirmSpend(),
            Rewards.spendErrorIs("above zero"),
            Rewards.cancelSpendPopup(),
            Rewards.panelShows({ award: "3.00", additional: "20.00" }),
            Rewards.dueIs("20.00"),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.receiptShows({
                name: "Alice Adams",
                number: "RP0001",
                award: "3.00",
                walletAfter: "23.00",
            }),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// A till whose shop lets CRM.COM spend at most half of the purchase: asked
// 15.00, CRM.COM spends 10.00; the discount is what was really spent.
tours.add("pos_crmcom_spend_partial", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows(FIVE_COFFEES),
            Rewards.spend("15"),
            Rewards.panelRedeemed({
                redemption: "10.00",
                walletAfter: "13.00",
                partial: "CRM.COM spent",
            }),
            {
                content: "the cashier reads what was spent of what was asked",
                trigger: `${Rewards.PANEL} .crmcom-partial:contains("10.00"):contains("15.00")`,
            },
            {
                content: "and a notification says it too",
                trigger: '.o_notification:contains("CRM.COM spent")',
            },
            Rewards.dueIs("10.00"),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.receiptShows({ award: "3.00", redemption: "10.00", walletAfter: "13.00" }),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// Back-end reduction: the panel says so; the customer spends nothing: no
// discount, no reward lines on the receipt (CRM.COM informs the customer).
tours.add("pos_crmcom_spend_back_end", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows({
                state: "back_end",
                reduction: "Rewards are redeemed by CRM.COM (back-end)",
                award: "3.00",
            }),
            {
                content: "no 'Apply rewards' at a back-end till",
                trigger: negate(".crmcom-apply-button"),
            },
            Rewards.dueIs("20.00"),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.receiptHasNoRewards(),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// Back-end reduction, the customer asks to spend (guide, advanced flow step 4):
// the spend request is sent, no discount line is added, the cashier and the
// receipt say CRM.COM refunds the amount through its payment gateway.
tours.add("pos_crmcom_spend_back_end_refund", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows({ state: "back_end", award: "3.00", minimum: "2.00" }),
            Rewards.clickSpendButton(),
            {
                content: "the popup says CRM.COM refunds, the total does not change",
                trigger: ".crmcom-spend-popup .crmcom-spend-back-end",
            },
            Rewards.enterSpendAmount("4"),
            Rewards.confirmSpend(),
            Rewards.spendPopupIsClosed(),
            Rewards.panelIs("redeemed"),
            Rewards.amountIs(
                ".crmcom-rewards-panel .crmcom-refund .crmcom-amount",
                "4.00",
                "the panel: 4.00 refunded by CRM.COM"
            ),
            {
                content: "the cashier is told CRM.COM refunds through its payment gateway",
                trigger: ".o_notification:contains('payment gateway')",
            },
            Rewards.dueIs("20.00"),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.amountIs(
                ".receipt-screen .pos-receipt .crmcom-receipt-refund span",
                "4.00",
                "the receipt: 4.00 refunded by CRM.COM"
            ),
            {
                content: "no discount line on the receipt",
                trigger: `.receipt-screen .pos-receipt:not(:has(.orderline:contains("${Rewards.REDEMPTION_PRODUCT}")))`,
            },
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// Instant spend (sandwiches): CRM.COM spends 3.00 by itself; validation asks to
// apply it first, then the discount line is on the order.
tours.add("pos_crmcom_spend_apply_instant", {
    steps: () =>
        [
            openRegister(),
            Rewards.identifyByCard(),
            Rewards.addProduct("Sandwich", 2),
            ProductScreen.selectedOrderlineHas("Sandwich", "2.0", "15.00"),
            ProductScreen.clickPayButton(),
            Rewards.panelShows({
                award: "3.75",
                automatic: "3.00",
                additional: "12.00",
                wallet: "20.00",
            }),
            Rewards.payCash(),
            PaymentScreen.clickValidate(),
            Dialog.is({ title: "Apply CRM.COM rewards" }),
            {
                content: "the dialog says what CRM.COM spends by itself",
                trigger: '.modal .modal-body:contains("by itself")',
            },
            Dialog.confirm("Apply rewards"),
            Rewards.panelRedeemed({ redemption: "3.00", award: "3.75", walletAfter: "20.75" }),
            Rewards.dueIs("12.00"),
            PaymentScreen.changeIs("3.00"),
            Rewards.validate(),
            Rewards.receiptShows({ award: "3.75", redemption: "3.00", walletAfter: "20.75" }),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// Spend, reload the till (the redemption and its discount line survive), then
// abandon the order: the POS deletes it, the server cancels the purchase in
// CRM.COM (checked in Python).
tours.add("pos_crmcom_spend_abandon", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows(FIVE_COFFEES),
            Rewards.spend("5"),
            Rewards.panelRedeemed({ redemption: "5.00" }),
            Rewards.dueIs("15.00"),
            refresh(),
            waitForLoading(),
            ProductScreen.isShown(),
            Rewards.redemptionLineIs("5.00"),
            {
                content: "the discount line keeps its name (no internal reference)",
                trigger: negate(".orderline .product-name:contains('CRMCOM-REDEMPTION')"),
            },
            {
                content: "the discount product is not offered on the product list",
                trigger: negate(
                    `.product-list .product-name:contains("${Rewards.REDEMPTION_PRODUCT}")`
                ),
            },
            ProductScreen.clickPayButton(),
            Rewards.panelRedeemed({ redemption: "5.00", walletAfter: "18.00" }),
            Rewards.dueIs("15.00"),
            Chrome.clickMenuOption("Orders"),
            TicketScreen.deleteOrder("-0001"),
            Dialog.confirm(),
            {
                content: "the cashier is told that CRM.COM gives the rewards back",
                trigger: '.o_notification:contains("CRM.COM will cancel the purchase")',
            },
            {
                content: "the order is gone",
                trigger: negate('.ticket-screen .order-row:contains("-0001")'),
            },
            Chrome.isSyncStatusConnected(),
            Chrome.endTour(),
        ].flat(),
});

// After a spend the order is locked: quantity, new product and customer changes
// are refused with a clear message; "Cancel redemption" opens it again, the
// cashier adds a coffee and spends again.
tours.add("pos_crmcom_spend_cancel_and_redeem_again", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelShows(FIVE_COFFEES),
            Rewards.spend("5"),
            Rewards.panelRedeemed({ redemption: "5.00", walletAfter: "18.00" }),
            // The customer cannot change on the payment screen either.
            {
                content: "click the customer button of the payment screen",
                trigger: ".payment-screen .partner-button",
                run: "click",
            },
            Rewards.lockedDialogIsShown(),
            Rewards.keepTheOrder(),
            PaymentScreen.clickBack(),
            ProductScreen.isShown(),
            // Quantity of a line: refused.
            ProductScreen.clickOrderline("Coffee", "5.0"),
            ProductScreen.clickNumpad("2"),
            Rewards.lockedDialogIsShown(),
            Rewards.keepTheOrder(),
            ProductScreen.orderLineHas("Coffee", "5.0", "20.00"),
            // The discount line itself: refused.
            ProductScreen.clickOrderline(Rewards.REDEMPTION_PRODUCT, "1.0"),
            ProductScreen.clickNumpad("⌫"),
            Rewards.lockedDialogIsShown(),
            Rewards.keepTheOrder(),
            Rewards.redemptionLineIs("5.00"),
            // A new product: refused; cancel the redemption from the dialog.
            ...Rewards.addProduct("Coffee"),
            Rewards.lockedDialogIsShown(),
            Rewards.cancelRedemptionInDialog(),
            {
                content: "the cashier is told the redemption is cancelled",
                trigger: '.o_notification:contains("Redemption cancelled")',
            },
            Rewards.noRedemptionLine(),
            ProductScreen.totalAmountIs("20.00"),
            // Now the order can change: a sixth coffee, then spend again.
            ...Rewards.addProduct("Coffee"),
            ProductScreen.selectedOrderlineHas("Coffee", "6.0", "24.00"),
            ProductScreen.clickPayButton(),
            Rewards.panelShows({ award: "3.60", additional: "20.00", wallet: "20.00" }),
            Rewards.spend("5"),
            Rewards.panelRedeemed({ redemption: "5.00", award: "3.60", walletAfter: "18.60" }),
            Rewards.dueIs("19.00"),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.receiptShows({ award: "3.60", redemption: "5.00", walletAfter: "18.60" }),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// The panel follows the order without flooding CRM.COM: the first preview is
// slow (the Python side delays it); while it is in flight the quantity changes
// four times; the stale answer is dropped and ONE more preview is asked.
tours.add("pos_crmcom_spend_preview_refresh", {
    steps: () =>
        [
            openRegister(),
            Rewards.identifyByCard(),
            Rewards.addProduct("Coffee"),
            ProductScreen.clickPayButton(),
            PaymentScreen.isShown(),
            {
                content: "the first preview is in flight",
                trigger: `${Rewards.PANEL}[data-pending="loading"]`,
            },
            {
                content: "change the quantity four times in a row",
                trigger: `${Rewards.PANEL}[data-pending="loading"]`,
                run() {
                    const line = posmodel.get_order().lines[0];
                    for (const qty of [2, 3, 4, 5]) {
                        line.set_quantity(qty);
                    }
                },
            },
            Rewards.panelShows(FIVE_COFFEES),
            Rewards.dueIs("20.00"),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

// CRM.COM down: the panel shows the server's plain words, nothing blocks the sale.
tours.add("pos_crmcom_spend_preview_down", {
    steps: () =>
        [
            aliceBuysFiveCoffees(),
            Rewards.panelIs("error"),
            {
                content: "the panel says the sale can go on",
                trigger: `${Rewards.PANEL} .crmcom-rewards-error:contains("You can finish the sale without rewards.")`,
            },
            Rewards.noSpendButton(),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.receiptHasNoRewards(),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});
