# Run by tools/demo inside `odoo-bin shell`: the café company of the simulator's
# demo scenario, its two tills configured against the simulator. The front-end
# till is the Nicosia Café of the README's pictures, set up by tests/cafe.py as
# tools/screenshots sets it up: the café's products with their CRM.COM codes, in
# the scenario's currency. `env` is provided by the shell.
#
# A company of its own, as the pictures' test does: the demo data's company books
# in US dollars (Odoo's generic chart of accounts) and has journal items already,
# so its currency can no longer change; a new company takes the scenario's
# currency once its chart of accounts is loaded, before anything is booked.
import importlib.util
import json
import os
from pathlib import Path

env = globals()["env"]  # given by odoo shell
scenario = json.load(open(os.environ["SCENARIO"]))

# tests/cafe.py, loaded by path: importing the addon's tests package would load
# Odoo's test framework into this shell.
spec = importlib.util.spec_from_file_location(
    "crmcom_demo_cafe", Path(os.environ["REPO"]) / "tests" / "cafe.py"
)
cafe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cafe)

currency = (
    env["res.currency"]
    .with_context(active_test=False)
    .search([("name", "=", scenario["currency"])], limit=1)
)
currency.active = True
company = env["res.company"].create(
    {"name": cafe.CAFE_COMPANY, "currency_id": currency.id, "city": "Nicosia"}
)
env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
company.currency_id = currency  # the chart of accounts sets its own: the café's wins
# Its warehouse (Odoo makes one for a new company only in its tests).
env["stock.warehouse"].create({"company_id": company.id})
admin = env.ref("base.user_admin")
admin.write({"company_ids": [(4, company.id)], "company_id": company.id})
env = env(user=admin, context={"allowed_company_ids": [company.id]})
company = company.with_env(env)

company.sudo().write(
    {
        "crmcom_enabled": True,
        "crmcom_base_url": os.environ["SIM_URL"],
        "crmcom_auth_method": "web_api_key",
        "crmcom_web_api_key": scenario["credentials"]["web_api_keys"][0],
        "crmcom_external_system": "ODOO_POS_DEMO",
        "crmcom_fallback_product_code": scenario["settings"]["default_product"],
        "crmcom_redemption_product_id": env.ref("pos_crmcom_rewards.product_crmcom_redemption").id,
    }
)
units = {}
for unit in scenario["units"]:  # the first merchant of each reduction method
    units.setdefault(unit["reduction_method"], unit)
assert units["FRONT_END_REDUCTION"]["alternative_code"] == cafe.CAFE_UNIT
front = env["pos.config"].create({"name": cafe.CAFE_NAME})
cafe.setup_cafe(env, front, external_system="ODOO_POS_DEMO")
back = env["pos.config"].create(
    {
        "name": units["BACK_END_REDUCTION"]["name"],
        "limit_categories": True,
        "iface_available_categ_ids": [(6, 0, front.iface_available_categ_ids.ids)],
        "crmcom_enabled": True,
        "crmcom_unit_key": "alternative_code",
        "crmcom_unit_value": units["BACK_END_REDUCTION"]["alternative_code"],
    }
)
env.cr.commit()
# Run by tools/demo, which shows these lines to the person starting the demo.
pos_url = f"http://127.0.0.1:{os.environ.get('ODOO_PORT', '8069')}/pos/ui?config_id="
for till, reduction in ((front, "front-end"), (back, "back-end")):
    print(  # pylint: disable=print-used
        f"till: {till.name:<14} {reduction} reduction, prices in {company.currency_id.name}:"
        f" {pos_url}{till.id}"
    )
