import { patch } from "@web/core/utils/patch";
import { PosOrder } from "@point_of_sale/app/models/pos_order";

/**
 * The CRM.COM customer identified at the till is kept in the order's ``uiState``
 * (``uiState.crmcom``): Odoo 18 saves ``uiState`` of open orders with the order in
 * IndexedDB (``serializeState`` / ``setupState``), so it survives a reload of the
 * till, and it is never sent to the server (``pos.order`` has no such field; the
 * server decides the CRM.COM story of an order itself).
 *
 * ``uiState.crmcom = {partner_id, name, participant_number, wallet_balance,
 * currency, spending_blocked}``: the answer of the identification, valid while the
 * order's customer is that partner.
 */
patch(PosOrder.prototype, {
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

    set_partner(partner) {
        super.set_partner(...arguments);
        // Another customer (or none): the identification no longer applies.
        if (this.uiState?.crmcom && this.uiState.crmcom.partner_id !== partner?.id) {
            this.setCrmcomCustomer(null);
        }
    },
});
