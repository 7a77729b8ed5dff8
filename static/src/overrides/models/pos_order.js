import { patch } from "@web/core/utils/patch";
import { PosOrder } from "@point_of_sale/app/models/pos_order";
import {
    BACK_END_REDUCTION,
    FRONT_END_REDUCTION,
    crmcomLock,
    roundAmount,
    toCents,
} from "@pos_crmcom_rewards/app/crmcom_utils";
import { computeRefundShare } from "@pos_crmcom_rewards/app/refund_share";

/**
 * The CRM.COM story of an order at the till. What the till knows is kept in the
 * order's ``uiState``: Odoo 18 saves ``uiState`` of open orders with the order in
 * IndexedDB (``serializeState`` / ``setupState``), so it survives a reload of the
 * till, and it is never sent to the server (``pos.order`` has no such field; the
 * server decides the CRM.COM story of an order itself).
 *
 * ``uiState.crmcom = {partner_id, name, participant_number, wallet_balance,
 * currency, spending_blocked}``: the CRM.COM customer identified at the till, the
 * answer of the identification, valid while the order's customer is that partner.
 *
 * ``uiState.crmcomRewards``: the rewards of the order being rung up (guide,
 * advanced flow steps 2-5):
 *
 * - ``preview``: the last preview answer of the server, with the ``signature`` of
 *   the order content it was made for and the time ``at`` (ms) it arrived;
 * - ``redemption``: the spend answer once CRM.COM recorded the purchase (and the
 *   spend): ``redemption_amount`` (the discount line), ``award_amount``,
 *   ``wallet_before``, ``wallet_after``, ``spent_amount``, ``requested_amount``,
 *   ``partial``, ``redemption_product_id``, ``message`` (when the spend failed);
 * - ``applyFailed``: the signature of the content for which "Apply rewards"
 *   failed (then the order may be paid without the automatic redemption).
 *
 * While a redemption is recorded the order is locked (policy "block"): lines,
 * quantities, prices, discounts, pricelist and customer cannot change until the
 * cashier cancels the redemption.
 *
 * A refund of an order paid with a redemption keeps back the redemption share of
 * the returned goods in one line (see app/refund_share.js).
 */
patch(PosOrder.prototype, {
    // ---------------------------------------------- the identified customer

    /** The identified CRM.COM customer of this order, or null. */
    get crmcomCustomer() {
        const info = this.uiState?.crmcom;
        const partner = this.get_partner();
        return info && partner && info.partner_id === partner.id ? info : null;
    },

    setCrmcomCustomer(info) {
        if (info) {
            this.uiState.crmcom = { ...info };
        } else if (this.uiState) {
            delete this.uiState.crmcom;
        }
    },

    // ------------------------------------------------------------- rewards

    get crmcomPreview() {
        return this.uiState?.crmcomRewards?.preview || null;
    },

    get crmcomRedemption() {
        return this.uiState?.crmcomRewards?.redemption || null;
    },

    crmcomUpdateRewards(values) {
        this.uiState.crmcomRewards = { ...(this.uiState.crmcomRewards || {}), ...values };
    },

    /** A redemption is recorded in CRM.COM for this open order: it cannot change. */
    get crmcomLocked() {
        return Boolean(this.crmcomRedemption) && !this.finalized;
    },

    crmcomIsRedemptionLine(line) {
        const productId = this.crmcomRedemption?.redemption_product_id;
        return Boolean(productId) && line.product_id?.id === productId;
    },

    get crmcomRedemptionLines() {
        return this.lines.filter((line) => this.crmcomIsRedemptionLine(line));
    },

    /** The lines CRM.COM is told about: everything but the redemption line. */
    get crmcomSaleLines() {
        return this.lines.filter((line) => !this.crmcomIsRedemptionLine(line));
    },

    /** Total (taxes included) of the sale lines, before any redemption. */
    get crmcomSaleTotal() {
        return roundAmount(
            this.crmcomSaleLines.reduce((sum, line) => sum + line.get_price_with_tax(), 0)
        );
    },

    /** The CRM.COM customer of the order (identified, or a linked partner). */
    get crmcomParticipant() {
        const partner = this.get_partner();
        if (!partner) {
            return null;
        }
        const identified = this.crmcomCustomer;
        const number = identified?.participant_number || partner.crmcom_participant_number;
        if (!identified && !number) {
            return null;
        }
        return {
            partner_id: partner.id,
            name: identified?.name || partner.name,
            participant_number: number || "",
        };
    },

    /** The lines as the server's preview (pos.config.crmcom_preview_order) reads them. */
    crmcomPreviewLines() {
        return this.crmcomSaleLines.map((line) => ({
            product_id: line.product_id.id,
            qty: line.get_quantity(),
            price_subtotal: line.get_price_without_tax(),
            price_subtotal_incl: line.get_price_with_tax(),
        }));
    },

    /** What a preview depends on: the customer and the sale lines. */
    crmcomPreviewSignature() {
        return JSON.stringify([
            this.get_partner()?.id || false,
            this.crmcomPreviewLines().map((line) => [
                line.product_id,
                Math.round(line.qty * 1e6) / 1e6,
                toCents(line.price_subtotal),
                toCents(line.price_subtotal_incl),
            ]),
        ]);
    },

    /** The last preview, if it was made for the order as it stands now. */
    get crmcomCurrentPreview() {
        const preview = this.crmcomPreview;
        return preview && preview.signature === this.crmcomPreviewSignature() ? preview : null;
    },

    /**
     * The CRM.COM lines of the receipt (guide, advanced flow step 5), or null:
     * front-end reduction only; after a spend from its answer, otherwise from the
     * last preview (award, wallet after = wallet + award); for orders loaded from
     * the server (reprint) from the order's CRM.COM fields.
     */
    crmcomReceiptData() {
        const participant = this.crmcomParticipant;
        if (!participant) {
            return null;
        }
        let amounts = null;
        const redemption = this.crmcomRedemption;
        const preview = this.crmcomCurrentPreview;
        if (redemption?.back_end || this._crmcomBackEndRefund()) {
            // Back-end reduction: CRM.COM informs the customer of awards itself; the
            // receipt only says what CRM.COM refunds through its payment gateway.
            const refund = redemption ? redemption.refund_amount : this._crmcomBackEndRefund();
            if (!toCents(refund)) {
                return null;
            }
            return {
                customer_name: participant.name,
                participant_number: participant.participant_number,
                back_end: true,
                refund_amount: roundAmount(refund),
            };
        }
        if (redemption) {
            amounts = {
                award_amount: redemption.award_amount,
                redemption_amount: redemption.redemption_amount,
                wallet_after: redemption.wallet_after,
            };
        } else if (
            preview?.ok &&
            preview.front_end &&
            toCents(preview.automatic_redemption) === 0
        ) {
            amounts = {
                award_amount: preview.award_amount,
                redemption_amount: 0,
                wallet_after: roundAmount(preview.wallet_balance + preview.award_amount),
            };
        } else if (
            this.crmcom_reduction_method === FRONT_END_REDUCTION &&
            ["sent", "pending"].includes(this.crmcom_state)
        ) {
            amounts = {
                award_amount: this.crmcom_awarded_amount || 0,
                redemption_amount: this.crmcom_redemption_amount || 0,
                wallet_after: this.crmcom_wallet_after || 0,
            };
        }
        if (!amounts) {
            return null;
        }
        return {
            customer_name: participant.name,
            participant_number: participant.participant_number,
            award_amount: roundAmount(amounts.award_amount),
            redemption_amount: roundAmount(amounts.redemption_amount),
            wallet_after: roundAmount(amounts.wallet_after),
        };
    },

    /**
     * A reprinted back-end order's refund by CRM.COM (from the server's fields),
     * when the customer asked to spend at the till; else 0.
     */
    _crmcomBackEndRefund() {
        if (
            this.crmcom_reduction_method !== BACK_END_REDUCTION ||
            this.crmcom_state !== "sent" ||
            !toCents(this.crmcom_additional_spend_amount)
        ) {
            return 0;
        }
        return (
            (this.crmcom_additional_spend_amount || 0) +
            (this.crmcom_instant_spend_amount || 0) +
            (this.crmcom_automatic_spend_amount || 0)
        );
    },

    export_for_printing() {
        const data = super.export_for_printing(...arguments);
        data.crmcomRewards = this.config?.crmcom_enabled ? this.crmcomReceiptData() : null;
        return data;
    },

    // ------------------------------------------------------------- refunds

    crmcomIsRedemptionProduct(product) {
        const redemptionId = this.config?.crmcom_redemption_product_id?.id;
        return Boolean(redemptionId) && product?.id === redemptionId;
    },

    /** The line of this refund that keeps back the redemption share, if any. */
    get crmcomRefundShareLine() {
        return this.lines.find(
            (line) =>
                line.refunded_orderline_id &&
                this.crmcomIsRedemptionProduct(line.refunded_orderline_id.product_id)
        );
    },

    /** {original, redemptionLine, share, qty} of this refund, or null. */
    crmcomRefundShare() {
        return computeRefundShare(
            this.lines.filter(
                (line) =>
                    line.refunded_orderline_id &&
                    !this.crmcomIsRedemptionProduct(line.refunded_orderline_id.product_id)
            ),
            (product) => this.crmcomIsRedemptionProduct(product),
            this.currency
        );
    },

    /** Add, update or remove the share line so that it matches the refund lines. */
    crmcomUpdateRefundShare() {
        if (this.finalized) {
            return;
        }
        const result = this.crmcomRefundShare();
        const shareLine = this.crmcomRefundShareLine;
        if (!result || toCents(result.share) <= 0) {
            if (shareLine) {
                shareLine.delete();
            }
            return;
        }
        const values = {
            qty: -result.qty,
            price_unit: -result.share / result.qty,
            discount: 0,
            price_type: "manual",
        };
        if (shareLine) {
            shareLine.update(values);
        } else {
            this.models["pos.order.line"].create({
                ...values,
                order_id: this,
                product_id: result.redemptionLine.product_id,
                tax_ids: [],
                refunded_orderline_id: result.redemptionLine,
            });
        }
        this.recomputeOrderData();
    },

    // ------------------------------------------------ the lock (policy "block")
    // Last line of defence: the screens ask first and say why (see PosStore).

    removeOrderline(line) {
        // A line of no quantity changes no amount (the payment screen drops them).
        if (this.crmcomLocked && !crmcomLock.bypass && line.get_quantity() !== 0) {
            return false;
        }
        const result = super.removeOrderline(...arguments);
        // A refund line gone: the redemption share follows.
        if (result && line.refunded_orderline_id && !line.crmcomIsRefundShare) {
            this.crmcomUpdateRefundShare();
        }
        return result;
    },

    set_partner(partner) {
        if (
            this.crmcomLocked &&
            !crmcomLock.bypass &&
            (partner?.id || false) !== (this.get_partner()?.id || false)
        ) {
            return;
        }
        super.set_partner(...arguments);
        // Another customer (or none): the identification no longer applies.
        if (this.uiState?.crmcom && this.uiState.crmcom.partner_id !== partner?.id) {
            this.setCrmcomCustomer(null);
        }
    },

    set_pricelist(pricelist) {
        if (
            this.crmcomLocked &&
            !crmcomLock.bypass &&
            (pricelist?.id || false) !== (this.pricelist_id?.id || false)
        ) {
            return;
        }
        return super.set_pricelist(...arguments);
    },
});
