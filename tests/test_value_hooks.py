"""The value hooks (README › Extending): an integrator's addon overrides them with
``_inherit`` and CRM.COM receives the change, with no code of ours copied.

The integrator's model is a test-only ``pos.order`` extension, added to the registry
for this test class only (the way Odoo builds an ``_inherit`` of an installed module)
and taken out afterwards."""

from contextlib import contextmanager

from odoo import models
from odoo.tests import tagged

from ..crmcom import product_identifier
from .common import CrmcomPosCase


class PosOrderWithTillNote(models.Model):
    """What an integrator writes: the till and cashier in the purchase's description."""

    # Not registered for the addon's module: built into the registry by the test only
    # (so the metaclass leaves _name, _inherit and _module to us).
    _register = False
    _name = "pos.order"
    _inherit = ["pos.order"]
    _module = "pos_crmcom_rewards"

    def _crmcom_prepare_purchase(self, reference=None):
        values = super()._crmcom_prepare_purchase(reference)
        values["description"] = f"Till {self.config_id.name} / {self.user_id.login}"
        return values


class ProductByAlternativeCode(models.Model):
    """Products known to CRM.COM by their alternative code (here: the barcode)."""

    _register = False
    _name = "product.product"
    _inherit = ["product.product"]
    _module = "pos_crmcom_rewards"

    def _crmcom_product_identifier(self, company):
        if self.barcode:
            return product_identifier(code=f"ALT-{self.barcode}")
        return super()._crmcom_product_identifier(company)


@contextmanager
def extended_registry(env, *model_classes):
    """``model_classes`` built into the registry (as installing their addon would),
    then taken out again."""
    registry = env.registry
    saved = {cls._name: registry[cls._name]._BaseModel__base_classes for cls in model_classes}
    try:
        for cls in model_classes:
            cls._build_model(registry, env.cr)
        registry.setup_models(env.cr)
        yield
    finally:
        for name, bases in saved.items():
            registry[name]._BaseModel__base_classes = bases
        registry.setup_models(env.cr)


@tagged("post_install", "-at_install")
class TestCrmcomValueHooks(CrmcomPosCase):
    def test_an_override_of_the_purchase_hook_reaches_crmcom(self):
        with extended_registry(self.env, PosOrderWithTillNote):
            order = self.sell([(self.coffee, 2)])
            self.drain()
        purchase = self.simulator.purchases(reference_number=order.pos_reference)
        self.assertEqual(len(purchase), 1)
        self.assertEqual(
            purchase[0]["description"], f"Till {self.config.name} / {order.user_id.login}"
        )
        self.assertEqual(order.crmcom_state, "sent")

    def test_an_override_of_the_product_hook_names_the_product_in_crmcom(self):
        self.coffee.barcode = "4001"
        with extended_registry(self.env, ProductByAlternativeCode):
            payload = self.sell([(self.coffee, 1)])._crmcom_purchase().to_payload()
        self.assertEqual(
            [item["product_identifier"] for item in payload["products_set"]],
            [{"code": "ALT-4001"}],
        )
        # Out of the registry again: the addon's own identifier.
        payload = self.sell([(self.coffee, 1)])._crmcom_purchase().to_payload()
        self.assertEqual(payload["products_set"][0]["product_identifier"], {"code": "COFFEE"})
