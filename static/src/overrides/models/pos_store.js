import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { PosStore } from "@point_of_sale/app/store/pos_store";
import { IDENTIFIER_KINDS, failure, rpcFailure } from "@pos_crmcom_rewards/app/crmcom_utils";

/** The cashier's words when identification fails and the server gave none. */
function identificationFailed() {
    return _t("The customer could not be identified. You can finish the sale without rewards.");
}

patch(PosStore.prototype, {
    /** CRM.COM Rewards is on for this till (pos.config.crmcom_enabled). */
    get crmcomEnabled() {
        return Boolean(this.config?.crmcom_enabled);
    },

    /**
     * Identify a CRM.COM customer (guide step 1) and make them the customer of
     * ``order``. The server finds the participant, links or creates the Odoo
     * customer and answers in plain words; the browser never talks to CRM.COM.
     *
     * Never throws for CRM.COM or network trouble: resolves to the server's answer
     * (``{ok: true, partner_id, name, participant_number, wallet_balance, currency,
     * spending_blocked}`` plus ``partner``, the POS record) or to
     * ``{ok: false, reason, message}``, in which case the order is left untouched.
     *
     * @param {"access_token"|"number"|"id"} kind
     * @param {string} value what the cashier scanned or typed
     * @param {Object} [options]
     * @param {import("@point_of_sale/app/models/pos_order").PosOrder} [options.order]
     *        the order to set the customer on (default: the current order)
     * @param {() => boolean} [options.isCancelled] asked once the server answered:
     *        true when the cashier gave up waiting (then the order is left as is)
     */
    async crmcomIdentify(kind, value, { order = this.get_order(), isCancelled } = {}) {
        if (!this.crmcomEnabled) {
            return failure("not_configured", _t("CRM.COM Rewards is off for this point of sale."));
        }
        if (!IDENTIFIER_KINDS.includes(kind)) {
            return failure("invalid", _t("Choose how the customer is identified."));
        }
        value = (value || "").trim();
        if (!value) {
            return failure(
                "invalid",
                _t("Scan or type the customer's card, phone, e-mail or number.")
            );
        }
        if (!order || order.finalized) {
            return failure("invalid", _t("There is no open order to set the customer on."));
        }
        let result;
        try {
            result = await this.data.call("pos.config", "crmcom_identify_customer", [
                [this.config.id],
                kind,
                value,
            ]);
        } catch (error) {
            return rpcFailure(error, identificationFailed());
        }
        if (!result || typeof result !== "object") {
            return failure(
                "invalid_answer",
                _t("The server gave no usable answer. You can finish the sale without rewards.")
            );
        }
        if (!result.ok) {
            return failure(
                result.reason || "unavailable",
                result.message || identificationFailed()
            );
        }
        // The customer may be new to this till (created by the server, or not among
        // the partners the session loaded): read it through the data service so that
        // it lands in the POS models (and an already loaded one gets the new wallet).
        let partner;
        try {
            [partner] = await this.data.read("res.partner", [result.partner_id]);
        } catch (error) {
            return rpcFailure(error, identificationFailed());
        }
        partner = partner || this.models["res.partner"].get(result.partner_id);
        if (!partner) {
            return failure(
                "invalid_answer",
                _t("The customer could not be loaded in the point of sale.")
            );
        }
        if (isCancelled?.()) {
            return failure("cancelled", _t("Identification cancelled."));
        }
        if (order.finalized) {
            return failure(
                "invalid",
                _t("The order was closed meanwhile: the customer was not set.")
            );
        }
        const currentPartner = order.get_partner();
        if (currentPartner && currentPartner.id !== partner.id && order.getHasRefundLines()) {
            // Same rule as PosStore.selectPartner.
            return failure(
                "invalid",
                _t(
                    "This order already has refund lines for %s. We can't change the customer associated to it. Create a new order for the new customer.",
                    currentPartner.name
                )
            );
        }
        if (currentPartner?.id !== partner.id) {
            order.set_partner(partner);
        }
        order.setCrmcomCustomer({
            partner_id: partner.id,
            name: result.name || partner.name,
            participant_number: result.participant_number || false,
            wallet_balance: Number(result.wallet_balance) || 0,
            currency: result.currency || false,
            spending_blocked: Boolean(result.spending_blocked),
        });
        return { ...result, partner };
    },
});
