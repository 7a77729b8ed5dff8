from odoo import models


class ProductProduct(models.Model):
    _inherit = "product.product"

    def _crmcom_code(self):
        """The code CRM.COM knows this product by, or False."""
        self.ensure_one()
        return (self.crmcom_product_code or self.default_code or "").strip() or False
