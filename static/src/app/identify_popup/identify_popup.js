import { Component, onWillDestroy, useState } from "@odoo/owl";
import { Dialog } from "@web/core/dialog/dialog";
import { useAutofocus } from "@web/core/utils/hooks";
import { _t } from "@web/core/l10n/translation";
import { usePos } from "@point_of_sale/app/store/pos_hook";
import { identifierKindChoices } from "@pos_crmcom_rewards/app/crmcom_utils";

/**
 * "Identify CRM.COM customer": the cashier scans or types the customer's
 * identifier (a barcode scanner types into the focused input and ends with
 * Enter, which confirms), picks how it identifies the customer (access token by
 * default) and confirms. The popup stays open with the server's message when the
 * customer cannot be identified, so the cashier can scan again or cancel and sell
 * without rewards; it closes once the customer is set on the order.
 */
export class CrmcomIdentifyPopup extends Component {
    static template = "pos_crmcom_rewards.CrmcomIdentifyPopup";
    static components = { Dialog };
    static props = {
        close: Function,
        order: { type: Object, optional: true },
        onIdentified: { type: Function, optional: true },
    };

    setup() {
        this.pos = usePos();
        this.kinds = identifierKindChoices();
        this.state = useState({
            value: "",
            kind: "access_token",
            busy: false,
            error: "",
            reason: "",
        });
        this.inputRef = useAutofocus({ refName: "input" });
        this.destroyed = false;
        onWillDestroy(() => (this.destroyed = true));
    }

    get placeholder() {
        return this.kinds.find((kind) => kind.value === this.state.kind)?.placeholder || "";
    }

    selectKind(kind) {
        this.state.kind = kind;
        this.state.error = "";
        this.state.reason = "";
        this.inputRef.el?.focus();
    }

    onKeydown(ev) {
        if (ev.key === "Enter") {
            // A scanner ends its code with Enter: confirm, and keep the key from
            // reaching the screen behind the popup.
            ev.preventDefault();
            ev.stopPropagation();
            this.confirm();
        }
    }

    async confirm() {
        if (this.state.busy) {
            return; // one call at a time
        }
        const value = this.state.value.trim();
        if (!value) {
            this.state.error = _t("Scan or type the customer's card, phone, e-mail or number.");
            this.state.reason = "invalid";
            this.inputRef.el?.focus();
            return;
        }
        this.state.busy = true;
        this.state.error = "";
        this.state.reason = "";
        let result;
        try {
            result = await this.pos.crmcomIdentify(this.state.kind, value, {
                order: this.props.order || this.pos.get_order(),
                isCancelled: () => this.destroyed,
            });
        } finally {
            if (!this.destroyed) {
                this.state.busy = false;
            }
        }
        if (this.destroyed) {
            return;
        }
        if (result.ok) {
            this.props.onIdentified?.(result);
            this.props.close();
            return;
        }
        this.state.error = result.message;
        this.state.reason = result.reason;
        // Ready for the next scan: the whole identifier is selected.
        this.inputRef.el?.focus();
        this.inputRef.el?.select();
    }

    cancel() {
        this.props.close();
    }
}
