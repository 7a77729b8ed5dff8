# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "POS CRM.COM Rewards",
    "summary": "Identify customers, award and redeem CRM.COM Rewards at the Point of Sale",
    "version": "18.0.1.2.0",
    "category": "Sales/Point of Sale",
    "author": "pos_crmcom_rewards developers",
    "license": "LGPL-3",
    "depends": ["point_of_sale"],
    # The one list of the addon's Python dependencies (crmcom/ imports both):
    # Odoo checks it on install, whool turns it into the wheel's Requires-Dist,
    # tools/setup installs it (manifestoo list-external-dependencies).
    "external_dependencies": {"python": ["requests>=2.25", "urllib3>=1.26"]},
    "data": [
        "security/ir.model.access.csv",
        "security/crmcom_security.xml",
        "security/crmcom_monitoring.xml",
        "data/crmcom_data.xml",
        "views/crmcom_call_log_views.xml",
        "views/res_config_settings_views.xml",
        "views/res_partner_views.xml",
        "views/pos_order_views.xml",
        "views/product_template_views.xml",
    ],
    "assets": {
        "point_of_sale._assets_pos": [
            "pos_crmcom_rewards/static/src/**/*",
        ],
        "web.assets_tests": [
            "pos_crmcom_rewards/static/tests/tours/**/*",
        ],
    },
    "installable": True,
    "application": False,
}
