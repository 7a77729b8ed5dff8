import { Component, onWillDestroy, useState } from "@odoo/owl";
import { Dialog } from "@web/core/dialog/dialog";
import { useAutofocus } from "@web/core/utils/hooks";
import { _t } from "@web/core/l10n/translation";
import { usePos } from "@point_of_sale/app/store/pos_hook";
import {
    checkSpendAmount,
    formatAmountInput,
    parseSpendAmount,
} from "@pos_crmcom_rewards/app/crmcom_utils";

/**
 * "Spend rewards" (guide, advanced flow step 4): the amount that can be spent is
 * prefilled (available, within the maximum per spend and the amount due); the
 * popup shows the minimum, maximum and available amounts and checks the amount
 * typed before asking the server (which checks again). While the server works,
 * confirm is disabled: one spend per order. The popup closes once a redemption
 * is on the order; it stays open with the server's words otherwise.
 */
export class CrmcomSpendPopup extends Component {
    static template = "pos_crmcom_rewards.SpendPopup";
    static components = { Dialog };
    static props = {
        close: Function,
        orderUuid: String,
    };

    setup() {
        this.pos = usePos();
        this.limits = this.pos.crmcomSpendLimits(this.order) || {
            minimum: 0,
            maximum: null,
            available: 0,
            due: 0,
            suggested: 0,
            wallet: 0,
            automatic: 0,
        };
        this.state = useState({
            value: formatAmountInput(this.limits.suggested),
            busy: false,
            error: "",
            reason: "",
        });
        this.inputRef = useAutofocus({ refName: "input" });
        this.destroyed = false;
        onWillDestroy(() => (this.destroyed = true));
    }

    get order() {
        return this.pos.models["pos.order"].getBy("uuid", this.props.orderUuid);
    }

    /** Back-end reduction: what is spent is refunded by CRM.COM, not deducted here. */
    get backEnd() {
        const preview = this.order?.crmcomCurrentPreview;
        return Boolean(preview?.ok && !preview.front_end);
    }

    format(amount) {
        return this.env.utils.formatCurrency(amount || 0);
    }

    onKeydown(ev) {
        if (ev.key === "Enter") {
            ev.preventDefault();
            ev.stopPropagation();
            this.confirm();
        }
    }

    showError(message, reason = "invalid") {
        this.state.error = message;
        this.state.reason = reason;
        this.inputRef.el?.focus();
        this.inputRef.el?.select();
    }

    async confirm() {
        if (this.state.busy) {
            return; // no double submit
        }
        const order = this.order;
        if (!order || order.finalized) {
            this.showError(_t("There is no open order to spend rewards on."));
            return;
        }
        const parsed = parseSpendAmount(this.state.value);
        if (parsed.error) {
            this.showError(parsed.error);
            return;
        }
        const problem = checkSpendAmount(parsed.amount, this.limits, (amount) =>
            this.format(amount)
        );
        if (problem) {
            this.showError(problem, "limits");
            return;
        }
        this.state.busy = true;
        this.state.error = "";
        this.state.reason = "";
        let result;
        try {
            result = await this.pos.crmcomSpend(order, parsed.amount);
        } finally {
            if (!this.destroyed) {
                this.state.busy = false;
            }
        }
        const applied = result.ok || typeof result.redemption_amount === "number";
        if (applied || this.destroyed) {
            this.pos.crmcomNotifySpend(result);
            if (!this.destroyed) {
                this.props.close();
            }
            return;
        }
        this.showError(result.message, result.reason || "error");
    }

    cancel() {
        this.props.close();
    }
}
