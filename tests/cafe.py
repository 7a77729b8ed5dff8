# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Nicosia Café of the simulator's demo scenario, set up on a till.

One set-up for what a newcomer sees first and for the README's pictures:
``tools/demo`` (tools/demo_setup.py) opens its front-end till on it, and
test_readme_screenshots.py takes the screenshots on it. The products are the
café's, sold in the scenario's currency (EUR), with the CRM.COM product codes of
crmcom_simulator/scenarios/demo.json (two have none: CRM.COM books them on the
fallback product). Only Odoo imports that need no test framework: tools/demo
loads this file inside ``odoo-bin shell``.
"""

import base64

from odoo.tools import file_open

# The front-end café of the demo scenario (its alternative code).
CAFE_UNIT = "CAFE-NIC"
CAFE_NAME = "Nicosia Café"
CAFE_COMPANY = "Nicosia Café Ltd"
COMPANY_LOGO = "point_of_sale/static/img/bakery-icon.png"

# name, price, CRM.COM product code, picture shipped with Odoo
PRODUCTS = [
    ("Espresso", 2.20, "ESPRESSO", "pos_restaurant/static/img/th-espresso.png"),
    ("Green Tea", 2.50, "TEA", "pos_restaurant/static/img/th-green_tea.png"),
    ("Croissant", 1.80, "CROISSANT", "point_of_sale/static/img/product_butter_croissant.png"),
    ("Pain au Chocolat", 2.00, None, "point_of_sale/static/img/product_pain_au_chocolat.png"),
    ("Blueberry Muffin", 2.40, None, "point_of_sale/static/img/product_blueberry_muffin.png"),
    ("Club Sandwich", 7.50, "SANDWICH", "pos_restaurant/static/img/th-club.png"),
]


def setup_cafe(env, config, *, external_system="ODOO_POS_NICOSIA"):
    """Make ``config`` the Nicosia Café till: its products (in a category of their
    own, the only one the till shows), CRM.COM on with the café's unit, and the
    bakery logo on its company. Returns the products."""
    # A fixed colour: the default one is random.
    category = env["pos.category"].create({"name": "Coffee Bar", "color": 2})
    products = env["product.product"]
    for name, price, code, image in PRODUCTS:
        values = {
            "name": name,
            "list_price": price,
            "crmcom_product_code": code,
            "available_in_pos": True,
            "pos_categ_ids": [(6, 0, category.ids)],
            "taxes_id": False,
        }
        with file_open(image, "rb") as picture:
            values["image_1920"] = base64.b64encode(picture.read())
        products |= env["product.product"].create(values)
    config.write(
        {
            "name": CAFE_NAME,
            "limit_categories": True,
            "iface_available_categ_ids": [(6, 0, category.ids)],
            "crmcom_enabled": True,
            "crmcom_unit_key": "alternative_code",
            "crmcom_unit_value": CAFE_UNIT,
            "crmcom_external_system": external_system,
        }
    )
    with file_open(COMPANY_LOGO, "rb") as logo:
        config.company_id.logo = base64.b64encode(logo.read())
    return products
