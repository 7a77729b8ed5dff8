# Run by tools/demo inside `odoo-bin shell`: configure the addon against the
# simulator's demo scenario. `env` is provided by the shell.
import json
import os

scenario = json.load(open(os.environ["SCENARIO"]))
company = env.company  # noqa: F821 (odoo shell)
company.write(
    {
        "crmcom_enabled": True,
        "crmcom_base_url": os.environ["SIM_URL"],
        "crmcom_auth_method": "web_api_key",
        "crmcom_web_api_key": scenario["credentials"]["web_api_keys"][0],
        "crmcom_external_system": "ODOO_POS_DEMO",
        "crmcom_fallback_product_code": scenario["settings"]["default_product"],
    }
)
units = {}
for unit in scenario["units"]:  # the first merchant of each reduction method
    units.setdefault(unit["reduction_method"], unit)
front = env.ref("point_of_sale.pos_config_main")  # noqa: F821
front.write(
    {
        "name": units["FRONT_END_REDUCTION"]["name"],
        "crmcom_enabled": True,
        "crmcom_unit_key": "alternative_code",
        "crmcom_unit_value": units["FRONT_END_REDUCTION"]["alternative_code"],
    }
)
back = front.copy(
    {
        "name": units["BACK_END_REDUCTION"]["name"],
        "crmcom_enabled": True,
        "crmcom_unit_key": "alternative_code",
        "crmcom_unit_value": units["BACK_END_REDUCTION"]["alternative_code"],
    }
)
env.cr.commit()  # noqa: F821
# Run by tools/demo, which shows this line to the person starting the demo.
print(f"configured: {front.name} (front-end), {back.name} (back-end)")  # pylint: disable=print-used
