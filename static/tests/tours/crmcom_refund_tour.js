// The refund screen gives back the CRM.COM redemption share of the returned items
// (README, Policies, Refunds). Driven by tests/test_pos_spend_tour.py (same data:
// "Coffee" 4.00, Alice Adams with 20.00 in her wallet); the Python side checks the
// refund order, the original order and the simulator afterwards.

/* global posmodel */

import { registry } from "@web/core/registry";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as TicketScreen from "@point_of_sale/../tests/tours/utils/ticket_screen_util";
import { openRegister } from "@pos_crmcom_rewards/../tests/tours/crmcom_identify_tour";
import * as Rewards from "@pos_crmcom_rewards/../tests/tours/utils/crmcom_spend_util";

const SHARE_LINE = Rewards.REDEMPTION_PRODUCT;

function refundOrderIs({ lines, total }) {
    return {
        content: `the refund order holds ${JSON.stringify(lines)}, total ${total}`,
        trigger: ".product-screen",
        run() {
            const order = posmodel.get_order();
            const actual = order.lines.map((line) => [
                line.get_full_product_name(),
                line.get_quantity(),
                Math.round(line.get_price_with_tax() * 100) / 100,
            ]);
            if (JSON.stringify(actual) !== JSON.stringify(lines)) {
                throw new Error(
                    `refund lines: expected ${JSON.stringify(lines)}, got ${JSON.stringify(actual)}`
                );
            }
            const shareLine = order.lines.find((line) => line.crmcomIsRefundShare);
            if (!shareLine?.refunded_orderline_id?.id) {
                throw new Error("the share line does not refund the redemption line");
            }
            const orderTotal = Math.round(order.get_total_with_tax() * 100) / 100;
            if (orderTotal !== total) {
                throw new Error(`refund total: expected ${total}, got ${orderTotal}`);
            }
        },
    };
}

// Five coffees (20.00) with 5.00 of rewards; two coffees come back: the refund
// keeps back 5.00 x 8.00 / 20.00 = 2.00 for the wallet and pays 6.00 in cash.
registry.category("web_tour.tours").add("pos_crmcom_refund_share", {
    steps: () =>
        [
            openRegister(),
            Rewards.identifyByCard(),
            Rewards.addProduct("Coffee", 5),
            ProductScreen.clickPayButton(),
            PaymentScreen.isShown(),
            Rewards.spend("5"),
            Rewards.panelRedeemed({ redemption: "5.00" }),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.nextOrder(),

            ...ProductScreen.clickRefund(),
            TicketScreen.selectOrder("-0001"),
            // The redemption line cannot be picked: the till adds its share.
            {
                content: "pick the redemption line of the sold order",
                trigger: `.ticket-screen .orderline:contains("${Rewards.REDEMPTION_PRODUCT}")`,
                run: "click",
            },
            ProductScreen.clickNumpad("1"),
            {
                content: "the cashier is told the till does it",
                trigger: '.o_notification:contains("by itself")',
            },
            {
                content: "pick the coffees",
                trigger: '.ticket-screen .orderline:contains("Coffee")',
                run: "click",
            },
            ProductScreen.clickNumpad("2"),
            TicketScreen.toRefundTextContains("To Refund: 2.00"),
            TicketScreen.confirmRefund(),
            ProductScreen.isShown(),
            refundOrderIs({
                lines: [
                    ["Coffee", -2, -8],
                    [SHARE_LINE, -0.4, 2],
                ],
                total: -6,
            }),
            ProductScreen.totalAmountIs("-6.00"),
            ProductScreen.clickPayButton(),
            Rewards.payCash(),
            Rewards.validate(),
            Rewards.nextOrder(),
            Chrome.endTour(),
        ].flat(),
});
