# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smoke tests: the addon's assets reach the POS and a POS tour can sell.

Runs both under pytest-odoo (``tools/run-tests``) and under Odoo's own runner
(``odoo-bin --test-tags /pos_crmcom_rewards``).
"""

from pathlib import Path

from odoo.tests import TransactionCase, tagged

# Import the module, not the class: a TestCase class imported into this
# module's namespace would be collected again by pytest.
from odoo.addons.point_of_sale.tests import test_frontend

ADDON = "pos_crmcom_rewards"
ADDON_DIR = Path(__file__).resolve().parent.parent
SMOKE_TOUR_FILE = f"{ADDON}/static/tests/tours/crmcom_smoke_tour.js"
ASSET_SUFFIXES = {".js", ".xml", ".scss", ".css"}


def _bundle_files(env, bundle):
    """Paths ("addon/static/...") that the asset bundle ``bundle`` contains."""
    return [entry[0].lstrip("/") for entry in env["ir.asset"]._get_asset_paths(bundle, {})]


@tagged("post_install", "-at_install")
class TestPosCrmcomAssets(TransactionCase):
    """Fast check (no browser) that the manifest's asset globs catch our files."""

    def test_tour_file_in_test_bundle(self):
        self.assertIn(SMOKE_TOUR_FILE, _bundle_files(self.env, "web.assets_tests"))

    def test_pos_sources_in_pos_bundle(self):
        expected = {
            f"{ADDON}/{path.relative_to(ADDON_DIR).as_posix()}"
            for path in (ADDON_DIR / "static" / "src").rglob("*")
            if path.is_file() and path.suffix in ASSET_SUFFIXES
        }
        ours = {
            path
            for path in _bundle_files(self.env, "point_of_sale.assets_prod")
            if path.startswith(f"{ADDON}/")
        }
        self.assertEqual(ours, expected)


@tagged("post_install", "-at_install")
class TestPosCrmcomSmoke(test_frontend.TestPointOfSaleHttpCommon):
    """Open the register in headless Chromium, sell one product for cash."""

    def test_smoke_tour_cash_order(self):
        self.assertEqual(
            self.env["ir.module.module"]._get(ADDON).state,
            "installed",
            "the addon under test is not installed in this database",
        )
        config = self.main_pos_config
        config.with_user(self.pos_user).open_ui()
        session = config.current_session_id
        self.assertTrue(session, "no POS session was opened")

        # Same as self.start_pos_tour(), but calling self.start_tour() literally
        # lets Odoo tag this test `is_tour` (HttpCase.get_method_additional_tags).
        # The first tour on a database also builds the asset bundles.
        self.start_tour(self._get_url(), "pos_crmcom_rewards_smoke", login="pos_user", timeout=240)

        orders = self.env["pos.order"].search([("session_id", "=", session.id)])
        self.assertEqual(len(orders), 1, "the tour should have created exactly one order")
        self.assertEqual(orders.state, "paid")
        self.assertEqual(orders.lines.product_id, self.desk_organizer)
        self.assertAlmostEqual(orders.amount_total, 5.10, places=2)
        self.assertAlmostEqual(orders.amount_paid, 5.10, places=2)
        self.assertEqual(orders.payment_ids.payment_method_id.mapped("name"), ["Cash"])
