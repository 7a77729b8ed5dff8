from odoo import fields, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    crmcom_product_code = fields.Char(
        string="CRM.COM Product Code",
        help="Code of this product in CRM.COM (sent as product_identifier.code)."
        " When empty, the internal reference is sent.",
    )
