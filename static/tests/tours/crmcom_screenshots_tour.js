// The README screenshots (tools/screenshots, tests/test_readme_screenshots.py):
// the settings, a sale with a redemption at the till, the order in the back
// office. Demo scenario of the CRM.COM simulator: Polina Kestora (card
// 6010000000000001) at the Nicosia Café (front-end reduction); the croissant's
// reward is spent instantly. What is shown is tested by the identify and spend
// tours; these steps only wait for each screen before its picture.

import { registry } from "@web/core/registry";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import { openRegister } from "@pos_crmcom_rewards/../tests/tours/crmcom_identify_tour";
import * as Rewards from "@pos_crmcom_rewards/../tests/tours/utils/crmcom_spend_util";
import { screenshot } from "@pos_crmcom_rewards/../tests/tours/utils/crmcom_screenshot_util";

const tours = registry.category("web_tour.tours");

const CUSTOMER = { card: "6010000000000001", name: "Polina Kestora", balance: "12.50" };
const SETTINGS_BLOCK = ".o_settings_container:has(#crmcom_company_settings)";

tours.add("pos_crmcom_screenshots_settings", {
    steps: () => [
        {
            content: "show the CRM.COM Rewards block of the Point of Sale settings",
            trigger: `${SETTINGS_BLOCK} #crmcom_pos_settings`,
            run() {
                // The block's title and help come just before its settings.
                const block = document.querySelector(SETTINGS_BLOCK);
                const title = block.previousElementSibling?.previousElementSibling || block;
                title.scrollIntoView({ block: "start" });
            },
        },
        screenshot("settings.png", {
            // The block's title, its help and its settings.
            selector: [
                "h2:has(+ h3 + .o_settings_container #crmcom_company_settings)",
                "h3:has(+ .o_settings_container #crmcom_company_settings)",
                SETTINGS_BLOCK,
            ].join(", "),
            height: 1000,
        }),
    ],
});

tours.add("pos_crmcom_screenshots_till", {
    steps: () =>
        [
            openRegister(),
            Rewards.addProduct("Espresso", 2),
            Rewards.addProduct("Club Sandwich"),
            Rewards.addProduct("Croissant"),
            ProductScreen.selectedOrderlineHas("Croissant", "1.0", "1.80"),
            Rewards.identifyByCard(CUSTOMER.card, CUSTOMER.name, CUSTOMER.balance),
            screenshot("identify.png", { trigger: ".product-screen .crmcom-customer" }),

            ProductScreen.clickPayButton(),
            PaymentScreen.isShown(),
            Rewards.panelIs("front_end"),
            screenshot("rewards_panel.png", {
                trigger: `${Rewards.PANEL} .crmcom-spend-button:enabled`,
            }),

            Rewards.clickSpendButton(),
            Dialog.is({ title: "Spend CRM.COM rewards" }),
            Rewards.enterSpendAmount("5.00"),
            screenshot("spend_popup.png", {
                trigger: `${Rewards.POPUP} input.crmcom-spend-amount`,
            }),
            Rewards.confirmSpend(),
            Rewards.spendPopupIsClosed(),
            Rewards.panelIs("redeemed"),

            PaymentScreen.clickBack(),
            ProductScreen.isShown(),
            {
                content: "select the discount line and show it at the end of the list",
                trigger: `.orderline .product-name:contains("${Rewards.REDEMPTION_PRODUCT}")`,
                async run(actions) {
                    await actions.click();
                    // The order list scrolls smoothly to the selected line after
                    // rendering: wait until it stops, then stand at the end.
                    const list = this.anchor.closest(".order-container");
                    let last = -1;
                    for (let i = 0; i < 40 && list.scrollTop !== last; i++) {
                        last = list.scrollTop;
                        await new Promise((resolve) => setTimeout(resolve, 100));
                    }
                    list.scrollTo({ top: list.scrollHeight, behavior: "instant" });
                },
            },
            screenshot("discount_line.png", {
                trigger: `.orderline.selected .product-name:contains("${Rewards.REDEMPTION_PRODUCT}")`,
            }),

            ProductScreen.clickPayButton(),
            Rewards.panelIs("redeemed"),
            Rewards.payCash(),
            Rewards.validate(),
            {
                content: "the receipt shows the award, the redemption and the wallet after",
                trigger:
                    ".receipt-screen .pos-receipt .crmcom-receipt:has(.crmcom-receipt-award)" +
                    ":has(.crmcom-receipt-redemption):has(.crmcom-receipt-wallet-after)",
            },
            screenshot("receipt.png", {
                selector: ".receipt-screen .pos-receipt",
                margin: 16,
                height: 1400,
            }),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});

tours.add("pos_crmcom_screenshots_order", {
    steps: () => [
        {
            content: "open the CRM.COM tab of the order",
            trigger: ".o_form_view .o_notebook a.nav-link:contains('CRM.COM')",
            run: "click",
        },
        {
            content: "the CRM.COM tab shows the sent order",
            trigger: ".o_form_view .tab-pane.active [name='crmcom_state']:contains('Sent')",
        },
        // The whole back office page, tall enough for the tab.
        screenshot("order_crmcom_tab.png", { height: 1200 }),
    ],
});
