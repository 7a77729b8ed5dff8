import { Component, useEffect } from "@odoo/owl";
import { useService } from "@web/core/utils/hooks";
import { usePos } from "@point_of_sale/app/store/pos_hook";
import {
    FRONT_END_REDUCTION,
    reductionMethodLabel,
    toCents,
} from "@pos_crmcom_rewards/app/crmcom_utils";
import { CrmcomSpendPopup } from "@pos_crmcom_rewards/app/spend_popup/spend_popup";

/**
 * The rewards panel of the payment screen (guide, advanced flow steps 2 and 4):
 * what CRM.COM would award and let the customer spend on the order as it stands,
 * refreshed when the order changes (debounced, one call in flight: see
 * PosStore.crmcomSchedulePreview), with "Spend rewards" / "Apply rewards" for
 * front-end reduction, and the redemption once applied ("Cancel redemption").
 * A failure shows the server's plain words: the sale goes on.
 */
export class CrmcomRewardsPanel extends Component {
    static template = "pos_crmcom_rewards.RewardsPanel";
    static props = { orderUuid: String };

    setup() {
        this.pos = usePos();
        this.dialog = useService("dialog");
        // Reading the signature here subscribes the panel to the order's lines and
        // customer: every change re-renders it and (re)schedules a preview.
        useEffect(
            (eligible) => {
                if (eligible) {
                    this.pos.crmcomSchedulePreview(this.order);
                }
            },
            () => {
                const order = this.order;
                const eligible = this.pos.crmcomPreviewEligible(order);
                return [
                    eligible,
                    eligible ? order.crmcomPreviewSignature() : "",
                    order?.crmcomRedemption,
                ];
            }
        );
    }

    get order() {
        return this.pos.models["pos.order"].getBy("uuid", this.props.orderUuid);
    }

    /** Shown for an open order of a CRM.COM customer, or one with a redemption. */
    get visible() {
        const order = this.order;
        return Boolean(order && (this.pos.crmcomPreviewEligible(order) || order.crmcomRedemption));
    }

    get preview() {
        return this.order.crmcomCurrentPreview;
    }

    get redemption() {
        return this.order.crmcomRedemption;
    }

    get pending() {
        return this.pos.crmcomPreviewPending(this.order);
    }

    get busy() {
        return this.pos.crmcomRewardsUi.busy[this.props.orderUuid] || false;
    }

    get state() {
        if (this.redemption) {
            return "redeemed";
        }
        const preview = this.preview;
        if (!preview) {
            return "loading";
        }
        if (!preview.ok) {
            return "error";
        }
        return preview.front_end ? "front_end" : "back_end";
    }

    get participant() {
        return this.order.crmcomParticipant;
    }

    /** The redemption is refunded by CRM.COM (back-end), not deducted here. */
    get refunded() {
        return Boolean(this.redemption?.back_end);
    }

    get frontEnd() {
        return this.preview?.reduction_method === FRONT_END_REDUCTION || this.preview?.front_end;
    }

    get reductionLabel() {
        return reductionMethodLabel(this.preview?.reduction_method);
    }

    get limits() {
        return this.pos.crmcomSpendLimits(this.order);
    }

    get canSpend() {
        const preview = this.preview;
        // Back-end reduction too (guide, advanced flow step 4): the spend request is
        // sent, and CRM.COM refunds it through its payment gateway.
        return Boolean(
            preview?.ok &&
                preview.allow_spending &&
                toCents(preview.additional_spend_amount) > 0 &&
                !this.redemption
        );
    }

    get canApply() {
        const preview = this.preview;
        return Boolean(
            preview?.ok &&
                preview.front_end &&
                toCents(preview.automatic_redemption) > 0 &&
                !this.redemption
        );
    }

    format(amount) {
        return this.env.utils.formatCurrency(amount || 0);
    }

    onClickSpend() {
        if (this.busy || !this.canSpend) {
            return;
        }
        this.dialog.add(CrmcomSpendPopup, { orderUuid: this.props.orderUuid });
    }

    async onClickApply() {
        if (this.busy) {
            return;
        }
        this.pos.crmcomNotifySpend(await this.pos.crmcomApplyRewards(this.order));
    }

    async onClickCancelRedemption() {
        if (this.busy) {
            return;
        }
        await this.pos.crmcomCancelRedemption(this.order);
    }

    onClickRetry() {
        this.pos.crmcomSchedulePreview(this.order, { now: true, force: true });
    }
}
