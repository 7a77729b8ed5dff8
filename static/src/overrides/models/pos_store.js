import { markRaw, reactive } from "@odoo/owl";
import { patch } from "@web/core/utils/patch";
import { _t } from "@web/core/l10n/translation";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { PosStore } from "@point_of_sale/app/store/pos_store";
import {
    IDENTIFIER_KINDS,
    failure,
    roundAmount,
    rpcFailure,
    spendLimits,
    toCents,
    withoutCrmcomLock,
} from "@pos_crmcom_rewards/app/crmcom_utils";
import {
    PREVIEW_MAX_AGE_MS,
    PREVIEW_SETTLE_MS,
    PreviewScheduler,
} from "@pos_crmcom_rewards/app/preview_scheduler";

/** The cashier's words when identification fails and the server gave none. */
function identificationFailed() {
    return _t("The customer could not be identified. You can finish the sale without rewards.");
}

/**
 * The till's side of CRM.COM Rewards: identification (guide step 1), then the
 * rewards of the order (advanced flow steps 2-5: preview, spend, redemption),
 * and the lock of a redeemed order (policy "block"). The browser never talks to
 * CRM.COM: every call goes to the till's pos.config, which answers in plain words.
 */
patch(PosStore.prototype, {
    async setup() {
        // What the screens show: previews waiting ("waiting": debounced,
        // "loading": asked) and orders with a spend / cancellation under way.
        this.crmcomRewardsUi = reactive({ pending: {}, busy: {} });
        // When previews are asked (debounced, one in flight): not reactive.
        this._crmcomPreviews = markRaw(
            new PreviewScheduler((uuid, force) => this._crmcomRequestPreview(uuid, force))
        );
        return await super.setup(...arguments);
    },

    async afterProcessServerData() {
        const result = await super.afterProcessServerData(...arguments);
        // Open orders restored with their redemption: its product stays off the
        // product list (it is only ever added by the till).
        for (const order of this.models["pos.order"].getAll()) {
            const productId = order.crmcomRedemption?.redemption_product_id;
            if (productId) {
                this.hiddenProductIds.add(productId);
            }
        }
        return result;
    },

    /** CRM.COM Rewards is on for this till (pos.config.crmcom_enabled). */
    get crmcomEnabled() {
        return Boolean(this.config?.crmcom_enabled);
    },

    // ----------------------------------------------------- identification

    /**
     * Identify a CRM.COM customer (guide step 1) and make them the customer of
     * ``order``. The server finds the participant, links or creates the Odoo
     * customer and answers in plain words; the browser never talks to CRM.COM.
     *
     * Never throws for CRM.COM or network trouble: resolves to the server's answer
     * (``{ok: true, partner_id, name, participant_number, wallet_balance, currency,
     * spending_blocked}`` plus ``partner``, the POS record) or to
     * ``{ok: false, reason, message}``, in which case the order is left untouched
     * (as it is when a redemption locks the order: see crmcomRefuseChange).
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
        if (order?.crmcomLocked) {
            return failure(
                "locked",
                _t(
                    "CRM.COM has already redeemed rewards on this order: cancel the redemption before changing the customer."
                )
            );
        }
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

    // ------------------------------------------------------------ preview

    /** Can the rewards of ``order`` be previewed (CRM.COM customer, lines, total > 0)? */
    crmcomPreviewEligible(order) {
        if (!this.crmcomEnabled || !order || order.finalized || !order.crmcomParticipant) {
            return false;
        }
        if (order.getHasRefundLines() || !order.crmcomSaleLines.length) {
            return false;
        }
        return toCents(order.crmcomSaleTotal) > 0;
    },

    crmcomPreviewPending(order) {
        return order ? this.crmcomRewardsUi.pending[order.uuid] || false : false;
    },

    _crmcomPreviewNeeded(order, signature, force = false) {
        if (order.crmcomRedemption) {
            return false; // the order is locked: nothing to preview
        }
        const preview = order.crmcomPreview;
        if (force || !preview || preview.signature !== signature) {
            return true;
        }
        return preview.ok && Date.now() - (preview.at || 0) > PREVIEW_MAX_AGE_MS;
    },

    /**
     * Ask the server's preview of ``order`` once it has not changed for
     * PREVIEW_DEBOUNCE_MS (``now``: at once). At most one preview is in flight
     * for the till: a newer request waits for it, and an answer for content that
     * changed meanwhile is dropped (see PreviewScheduler). Nothing is asked when
     * the last answer is for the same content (unless ``force``, or it is old):
     * CRM.COM is not flooded.
     */
    crmcomSchedulePreview(order, { now = false, force = false } = {}) {
        if (!this.crmcomPreviewEligible(order)) {
            return;
        }
        const signature = order.crmcomPreviewSignature();
        if (!this._crmcomPreviewNeeded(order, signature, force)) {
            return;
        }
        this.crmcomRewardsUi.pending[order.uuid] = "waiting";
        this._crmcomPreviews.schedule(order.uuid, { now, force });
    },

    /** The scheduler's request: the preview of the order as it stands now, if still needed. */
    async _crmcomRequestPreview(uuid, force = false) {
        const order = this.models["pos.order"].getBy("uuid", uuid);
        const ui = this.crmcomRewardsUi;
        if (!order || !this.crmcomPreviewEligible(order)) {
            delete ui.pending[uuid];
            return;
        }
        const signature = order.crmcomPreviewSignature();
        if (!this._crmcomPreviewNeeded(order, signature, force)) {
            delete ui.pending[uuid];
            return;
        }
        ui.pending[uuid] = "loading";
        try {
            await this._crmcomCallPreview(order, signature);
        } finally {
            if (ui.pending[uuid] === "loading") {
                delete ui.pending[uuid];
            }
        }
    },

    async _crmcomCallPreview(order, signature) {
        let answer;
        try {
            answer = await this.data.call("pos.config", "crmcom_preview_order", [
                [this.config.id],
                {
                    uuid: order.uuid,
                    partner_id: order.get_partner().id,
                    lines: order.crmcomPreviewLines(),
                },
            ]);
        } catch (error) {
            const message = _t(
                "The rewards could not be previewed. You can finish the sale without rewards."
            );
            try {
                answer = rpcFailure(error, message);
            } catch {
                // The panel only informs: whatever went wrong, the sale goes on.
                answer = failure("error", message);
            }
        }
        if (!answer || typeof answer !== "object") {
            answer = failure(
                "invalid_answer",
                _t("The server gave no usable answer. You can finish the sale without rewards.")
            );
        }
        if (
            order.finalized ||
            order.crmcomRedemption ||
            order.crmcomPreviewSignature() !== signature
        ) {
            return; // stale: the order changed meanwhile (its new preview is asked)
        }
        order.crmcomUpdateRewards({
            preview: {
                ...answer,
                ok: Boolean(answer.ok),
                signature,
                at: Date.now(),
            },
        });
    },

    /**
     * Wait until no preview of ``order`` is waiting or in flight (a waiting one is
     * asked at once), for at most ``timeout`` ms: validation decides on the
     * preview of the order as it is paid, without ever blocking the sale.
     */
    async crmcomPreviewSettled(order, timeout = PREVIEW_SETTLE_MS) {
        await this._crmcomPreviews.settle(order.uuid, timeout);
    },

    // ------------------------------------------------------ spend & apply

    /** What the spend popup checks (the server checks again). */
    crmcomSpendLimits(order) {
        const preview = order?.crmcomCurrentPreview;
        return preview?.ok ? spendLimits(preview, order.crmcomSaleTotal) : null;
    },

    /**
     * "Spend rewards" (guide, advanced flow steps 3-5): save the draft on the
     * server, ask it to submit the purchase and the spend request, and put ONE
     * discount line of what CRM.COM really spent (plus its instant / automatic
     * spend) on the order. ``amount`` 0 applies only what CRM.COM spends by itself.
     *
     * Resolves to the server's answer (``ok`` true, or false with ``message``; a
     * failed spend on a recorded purchase still carries ``redemption_amount``,
     * which is applied) or to ``{ok: false, reason, message}``. Never throws for
     * server or network trouble; one spend at a time per order.
     */
    async crmcomSpend(order, amount) {
        if (!this.crmcomEnabled || !order) {
            return failure("not_configured", _t("CRM.COM Rewards is off for this point of sale."));
        }
        if (order.finalized) {
            return failure("invalid", _t("This order is already paid."));
        }
        if (order.crmcomRedemption) {
            return { ok: true, already: true, ...order.crmcomRedemption };
        }
        const ui = this.crmcomRewardsUi;
        if (ui.busy[order.uuid]) {
            return failure("busy", _t("CRM.COM is already being asked for this order."));
        }
        ui.busy[order.uuid] = "spend";
        try {
            return await this._crmcomSpend(order, amount);
        } finally {
            delete ui.busy[order.uuid];
        }
    },

    async _crmcomSpend(order, amount) {
        const signature = order.crmcomPreviewSignature();
        // 1. The server works on the saved draft.
        try {
            await this.syncAllOrders({ orders: [order], throw: true });
        } catch (error) {
            return rpcFailure(
                error,
                _t("The order could not be saved. You can finish the sale without rewards.")
            );
        }
        if (typeof order.id !== "number") {
            return failure(
                "unsaved",
                _t("The order could not be saved on the server yet: try again in a moment.")
            );
        }
        // 2. Purchase and spend in CRM.COM.
        let answer;
        try {
            answer = await this.data.call("pos.config", "crmcom_spend_rewards", [
                [this.config.id],
                order.uuid,
                roundAmount(amount),
            ]);
        } catch (error) {
            answer = rpcFailure(
                error,
                _t("The rewards could not be spent. You can finish the sale without rewards.")
            );
        }
        if (!answer || typeof answer !== "object") {
            answer = failure(
                "invalid_answer",
                _t("The server gave no usable answer. You can finish the sale without rewards.")
            );
        }
        if (!answer.ok && typeof answer.redemption_amount !== "number") {
            if (!toCents(amount)) {
                // "Apply rewards" failed: the sale may go on without them.
                order.crmcomUpdateRewards({ applyFailed: signature });
            }
            return answer;
        }
        // 3. The discount line.
        const applied = await this._crmcomApplyRedemption(order, answer);
        return applied.ok ? answer : applied;
    },

    /** Apply only what CRM.COM spends by itself (instant and automatic spend). */
    crmcomApplyRewards(order) {
        return this.crmcomSpend(order, 0);
    },

    async _crmcomApplyRedemption(order, answer) {
        const amount = roundAmount(answer.redemption_amount);
        order.crmcomUpdateRewards({
            redemption: {
                purchase_number: answer.purchase_number || false,
                requested_amount: roundAmount(answer.requested_amount),
                spent_amount: roundAmount(answer.spent_amount),
                partial: Boolean(answer.partial),
                instant_spend_amount: roundAmount(answer.instant_spend_amount),
                automatic_spend_amount: roundAmount(answer.automatic_spend_amount),
                redemption_amount: amount,
                award_amount: roundAmount(answer.award_amount),
                wallet_before: roundAmount(answer.wallet_before),
                wallet_after: roundAmount(answer.wallet_after),
                redemption_product_id: answer.redemption_product_id || false,
                back_end: Boolean(answer.back_end),
                refund_amount: roundAmount(answer.refund_amount),
                message: answer.ok ? false : answer.message || false,
            },
            applyFailed: false,
        });
        if (toCents(amount) <= 0) {
            return { ok: true };
        }
        const product = await this._crmcomRedemptionProduct(answer.redemption_product_id);
        if (!product) {
            return failure(
                "no_product",
                _t(
                    "CRM.COM redeemed %s, but the discount product could not be loaded: cancel the redemption, or delete the order.",
                    this.env.utils.formatCurrency(amount)
                )
            );
        }
        const existing = order.lines.find((line) => line.product_id.id === product.id);
        if (existing) {
            // Never two discount lines: the one there gets the amount.
            withoutCrmcomLock(() => {
                existing.set_quantity(1, true);
                existing.set_unit_price(-amount);
            });
        } else {
            await this.addLineToOrder(
                { product_id: product, qty: 1, price_unit: -amount, tax_ids: [] },
                order,
                { crmcomRedemption: true },
                false
            );
        }
        order.recomputeOrderData();
        return { ok: true };
    },

    /** The redemption product, loaded into the till if needed (and kept off the list). */
    async _crmcomRedemptionProduct(productId) {
        if (!productId) {
            return null;
        }
        let product = this.models["product.product"].get(productId);
        if (!product) {
            try {
                await this.data.read("product.product", [productId], [], {
                    context: { display_default_code: false },
                });
            } catch {
                return null;
            }
            product = this.models["product.product"].get(productId);
        }
        if (product) {
            this.hiddenProductIds.add(productId);
        }
        return product || null;
    },

    /** Tell the cashier how a spend went (partial spend, failed spend). */
    crmcomNotifySpend(result) {
        const format = (amount) => this.env.utils.formatCurrency(amount || 0);
        if (!result) {
            return;
        }
        if (!result.ok) {
            if (result.message) {
                this.notification.add(result.message, {
                    type: "warning",
                    title: _t("CRM.COM Rewards"),
                    sticky: typeof result.redemption_amount === "number",
                });
            }
            return;
        }
        if (result.back_end && result.notice) {
            this.notification.add(result.notice, {
                type: "info",
                title: _t("CRM.COM Rewards"),
            });
        } else if (result.exceeded && result.notice) {
            this.notification.add(result.notice, {
                type: "warning",
                title: _t("CRM.COM Rewards"),
            });
        } else if (result.partial) {
            this.notification.add(
                _t("CRM.COM spent %(spent)s of the %(asked)s asked.", {
                    spent: format(result.spent_amount),
                    asked: format(result.requested_amount),
                }),
                { type: "warning", title: _t("CRM.COM Rewards") }
            );
        } else if (toCents(result.redemption_amount) > 0) {
            this.notification.add(
                _t("%s of rewards deducted from the order.", format(result.redemption_amount)),
                { type: "success", title: _t("CRM.COM Rewards") }
            );
        }
    },

    // ---------------------------------------------------------- validation

    /** Why ``order`` cannot be validated yet (front-end automatic redemption not applied), or null. */
    crmcomValidationBlock(order) {
        if (!this.crmcomPreviewEligible(order) || order.crmcomRedemption) {
            return null;
        }
        const preview = order.crmcomCurrentPreview;
        if (!preview?.ok || !preview.front_end || toCents(preview.automatic_redemption) <= 0) {
            return null;
        }
        if (order.uiState.crmcomRewards?.applyFailed === preview.signature) {
            return null; // tried and failed: no blocked sale
        }
        return _t(
            "CRM.COM spends %(amount)s of %(name)s's rewards on this order by itself. Apply the rewards first, so that the discount is on the order.",
            {
                amount: this.env.utils.formatCurrency(preview.automatic_redemption),
                name: order.crmcomParticipant.name,
            }
        );
    },

    crmcomAskToApply(order, message) {
        this.dialog.add(ConfirmationDialog, {
            title: _t("Apply CRM.COM rewards"),
            body: message,
            confirmLabel: _t("Apply rewards"),
            cancelLabel: _t("Back"),
            confirm: async () => {
                this.crmcomNotifySpend(await this.crmcomApplyRewards(order));
            },
            // eslint-disable-next-line no-empty-function -- a cancel callback shows the Cancel button
            cancel: () => {},
        });
    },

    // ------------------------------------------------ the lock and its way out

    /**
     * Policy "block": after a redemption the order cannot change. Shows why and
     * offers to cancel the redemption; true when ``order`` is locked.
     */
    crmcomRefuseChange(order = this.get_order()) {
        if (!order?.crmcomLocked) {
            return false;
        }
        this.crmcomShowLocked(order);
        return true;
    },

    crmcomShowLocked(order) {
        const amount = this.env.utils.formatCurrency(order.crmcomRedemption.redemption_amount || 0);
        this.dialog.add(ConfirmationDialog, {
            title: _t("Rewards already redeemed"),
            body: _t(
                "CRM.COM has recorded this order and redeemed %s of rewards on it: the order cannot be changed now. Cancel the redemption to change it (the customer gets the rewards back), then spend again.",
                amount
            ),
            confirmLabel: _t("Cancel redemption"),
            cancelLabel: _t("Keep the order"),
            confirm: async () => {
                await this.crmcomCancelRedemption(order);
            },
            // eslint-disable-next-line no-empty-function -- a cancel callback shows the Cancel button
            cancel: () => {},
        });
    },

    /**
     * "Cancel redemption": the server cancels the purchase (and spend) in CRM.COM,
     * then the discount line goes and the order can be changed again.
     */
    async crmcomCancelRedemption(order) {
        if (!order?.crmcomRedemption) {
            return { ok: true };
        }
        const ui = this.crmcomRewardsUi;
        if (ui.busy[order.uuid]) {
            return failure("busy", _t("CRM.COM is already being asked for this order."));
        }
        ui.busy[order.uuid] = "cancel";
        let result;
        try {
            result = await this.data.call("pos.config", "crmcom_cancel_redemption", [
                [this.config.id],
                order.uuid,
            ]);
        } catch (error) {
            result = rpcFailure(
                error,
                _t("The redemption could not be cancelled. Keep the order as it is, or delete it.")
            );
        } finally {
            delete ui.busy[order.uuid];
        }
        if (!result?.ok) {
            this.notification.add(result?.message || _t("The redemption could not be cancelled."), {
                type: "danger",
                title: _t("CRM.COM Rewards"),
            });
            return result || failure("invalid_answer", "");
        }
        withoutCrmcomLock(() => {
            for (const line of order.crmcomRedemptionLines) {
                order.removeOrderline(line);
            }
        });
        order.crmcomUpdateRewards({ redemption: null, preview: null, applyFailed: false });
        order.recomputeOrderData();
        this.notification.add(
            _t("Redemption cancelled: the order can be changed, then the rewards spent again."),
            { type: "info", title: _t("CRM.COM Rewards") }
        );
        return result;
    },

    // The screens' ways to change an order ask first (see crmcomRefuseChange).

    async addLineToOrder(vals, order, opts = {}, configure = true) {
        if (!opts?.crmcomRedemption && this.crmcomRefuseChange(order)) {
            return;
        }
        return await super.addLineToOrder(...arguments);
    },

    async selectPartner() {
        const order = this.get_order();
        if (this.crmcomRefuseChange(order)) {
            return order.get_partner();
        }
        return await super.selectPartner(...arguments);
    },

    async selectPricelist() {
        if (this.crmcomRefuseChange()) {
            return;
        }
        return await super.selectPricelist(...arguments);
    },

    async setDiscountFromUI(line) {
        if (this.crmcomRefuseChange(line?.order_id)) {
            return;
        }
        return await super.setDiscountFromUI(...arguments);
    },

    async set_tip() {
        if (this.crmcomRefuseChange()) {
            return;
        }
        return await super.set_tip(...arguments);
    },

    async onDeleteOrder(order) {
        const redeemed = Boolean(order?.crmcomRedemption);
        const deleted = await super.onDeleteOrder(...arguments);
        if (deleted && redeemed) {
            this.notification.add(
                _t(
                    "CRM.COM will cancel the purchase of the deleted order and give the rewards back."
                ),
                { type: "info", title: _t("CRM.COM Rewards") }
            );
        }
        return deleted;
    },
});
