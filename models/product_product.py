from odoo import models

from ..crmcom import product_identifier


class ProductProduct(models.Model):
    _inherit = "product.product"

    def _crmcom_code(self):
        """The code CRM.COM knows this product by, or False."""
        self.ensure_one()
        return (self.crmcom_product_code or self.default_code or "").strip() or False

    def _crmcom_product_identifier(self, company):
        """``product_identifier`` of this product in ``company``'s CRM.COM: its code,
        else the company's fallback code; False when it has neither. A value hook:
        extend it to name products by id or alternative code."""
        self.ensure_one()
        code = self._crmcom_code() or (company.crmcom_fallback_product_code or "").strip()
        return product_identifier(code=code) if code else False
