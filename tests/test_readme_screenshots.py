# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The README screenshots, taken from the real till and back office.

Not a test of behaviour: a generator, run by ``tools/screenshots``. It is
SKIPPED unless ``CRMCOM_SCREENSHOTS_DIR`` names the folder to write the PNGs to
(static/description/screenshots/ for the README), so the normal suite never
runs it; the behaviour shown here is tested by test_pos_identify_tour.py,
test_pos_spend_tour.py and test_settings.py.

Three tours (static/tests/tours/crmcom_screenshots_tour.js) walk the settings,
a sale with a redemption at the till and the order in the back office, against
the CRM.COM simulator (demo scenario) over real HTTP in headless Chromium. A
tour step asks for a picture by logging a line starting with
``SCREENSHOT_SIGNAL`` (static/tests/tours/utils/crmcom_screenshot_util.js); the
browser below answers it with the DevTools protocol (Page.captureScreenshot,
cropped to an element when the step names one) and resolves the step's promise.
"""

import base64
import io
import json
import os
import threading
import time
import unittest
from pathlib import Path

from PIL import Image

from odoo.tests import common as odoo_test_common
from odoo.tests import tagged

# Import the module, not the class: a TestCase class imported into this
# module's namespace would be collected again by pytest.
from odoo.addons.point_of_sale.tests import test_frontend

from ..crmcom_simulator import Simulator
from .cafe import CAFE_COMPANY, setup_cafe
from .common import CrmcomSimulatorMixin

SCREENSHOTS_DIR = os.environ.get("CRMCOM_SCREENSHOTS_DIR")
SCREENSHOT_SIGNAL = "crmcom-screenshot:"
# The README shows the pictures at their size: keep them light.
MAX_PNG_BYTES = 200_000
VIEWPORT = (1366, 768)


def save_png(data, path):
    """Write the PNG, reduced to a 256-colour palette when it is too heavy."""
    image = Image.open(io.BytesIO(data))
    image.load()
    for candidate in (image, image.convert("RGB").quantize(colors=256)):
        buffer = io.BytesIO()
        candidate.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= MAX_PNG_BYTES:
            break
    path.write_bytes(buffer.getvalue())


class ScreenshotBrowser(odoo_test_common.ChromeBrowser):
    """Odoo's test browser, answering the tours' screenshot requests."""

    output_dir = None

    # Odoo's signature (``type`` shadows the builtin there too).
    def _handle_console(self, type, args=None, stackTrace=None, **kw):  # noqa: A002  # pylint: disable=redefined-builtin
        result = super()._handle_console(type, args=args, stackTrace=stackTrace, **kw)
        text = (args or [{}])[0].get("value")
        if isinstance(text, str) and text.startswith(SCREENSHOT_SIGNAL):
            request = json.loads(text[len(SCREENSHOT_SIGNAL) :])
            # Not in this (websocket receiver) thread: it must go on reading the
            # answers of the commands sent below.
            threading.Thread(target=self._answer_screenshot, args=(request,), daemon=True).start()
        return result

    def _evaluate(self, expression):
        answer = self._websocket_request(
            "Runtime.evaluate",
            params={"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=30,
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(answer["exceptionDetails"].get("text", "evaluation failed"))
        return answer["result"].get("value")

    def _set_viewport(self, width, height):
        self._websocket_request(
            "Emulation.setDeviceMetricsOverride",
            params={"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        # Two frames: the layout follows the new size before anything is measured.
        self._evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def _answer_screenshot(self, request):
        name = request["name"]
        outcome = "ok"
        height = request.get("height")
        try:
            if height:
                self._set_viewport(VIEWPORT[0], height)
            params = {"format": "png"}
            selector = request.get("selector")
            if selector:
                # The box around every element the selector matches.
                rect = self._evaluate(
                    "(() => { const rects = [...document.querySelectorAll("
                    + json.dumps(selector)
                    + ")]"
                    ".map((el) => el.getBoundingClientRect());"
                    " if (!rects.length) { return null; }"
                    " const x = Math.min(...rects.map((r) => r.left));"
                    " const y = Math.min(...rects.map((r) => r.top));"
                    " return {x, y, width: Math.max(...rects.map((r) => r.right)) - x,"
                    " height: Math.max(...rects.map((r) => r.bottom)) - y}; })()"
                )
                if not rect:
                    raise RuntimeError(f"nothing matches {selector}")
                margin = request.get("margin", 0)
                left, top = max(rect["x"] - margin, 0), max(rect["y"] - margin, 0)
                params["clip"] = {
                    "x": left,
                    "y": top,
                    "width": rect["x"] + rect["width"] + margin - left,
                    "height": rect["y"] + rect["height"] + margin - top,
                    "scale": 1,
                }
            answer = self._websocket_request("Page.captureScreenshot", params=params, timeout=30)
            save_png(base64.b64decode(answer["data"]), Path(self.output_dir) / name)
            self._logger.info("screenshot %s written", name)
        except Exception as error:  # noqa: BLE001 (reported to the tour, which fails)
            outcome = f"{type(error).__name__}: {error}"
        finally:
            if height:
                self._set_viewport(*VIEWPORT)
            self._websocket_send(
                "Runtime.evaluate",
                params={
                    "expression": f"window.__crmcomScreenshots?.[{json.dumps(name)}]"
                    f"?.({json.dumps(outcome)})"
                },
            )


@unittest.skipUnless(SCREENSHOTS_DIR, "README screenshot generator: run tools/screenshots")
@tagged("post_install", "-at_install", "crmcom_screenshots")
class TestReadmeScreenshots(CrmcomSimulatorMixin, test_frontend.TestPointOfSaleHttpCommon):
    browser_size = "%dx%d" % VIEWPORT

    @classmethod
    def setup_independent_company(cls, **kwargs):
        # A café paying in euros, like the demo scenario's.
        euro = cls.env.ref("base.EUR")
        euro.active = True
        return cls._create_company(name=CAFE_COMPANY, currency_id=euro.id, **kwargs)

    @classmethod
    def start_simulator(cls):
        cls.simulator = Simulator("demo").start()
        cls.addClassCleanup(cls.simulator.stop)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        scenario = cls.simulator.scenario
        config = cls.main_pos_config
        cls.configure_company(
            config.company_id,
            crmcom_web_api_key=scenario["credentials"]["web_api_keys"][0],
            crmcom_external_system="ODOO_POS",
            crmcom_fallback_product_code=scenario["settings"]["default_product"],
            crmcom_redemption_product_id=cls.env.ref(
                "pos_crmcom_rewards.product_crmcom_redemption"
            ).id,
        )
        # The café of tools/demo: the same products, codes and till.
        setup_cafe(cls.env, config)
        # The accounting test data has cash-basis taxes: without this, the settings
        # page opens on an error about them.
        config.company_id.tax_exigibility = True
        cls.pos_user.name = "Anna Christou"
        # The settings and the order form are the administrator's, in the café's company.
        cls.admin = cls.env.ref("base.user_admin")
        cls.admin.write(
            {"company_ids": [(4, config.company_id.id)], "company_id": config.company_id.id}
        )

    def setUp(self):
        super().setUp()
        output = Path(SCREENSHOTS_DIR)
        output.mkdir(parents=True, exist_ok=True)
        ScreenshotBrowser.output_dir = output
        # browser_js() builds its browser from this module-level name.
        original = odoo_test_common.ChromeBrowser
        odoo_test_common.ChromeBrowser = ScreenshotBrowser
        self.addCleanup(setattr, odoo_test_common, "ChromeBrowser", original)

    def test_readme_screenshots(self):
        started = time.time()
        self.start_tour(
            "/odoo/action-point_of_sale.action_pos_configuration",
            "pos_crmcom_screenshots_settings",
            login="admin",
            timeout=120,
        )

        config = self.main_pos_config
        config.with_user(self.pos_user).open_ui()
        session = config.current_session_id
        self.start_tour(
            self._get_url(), "pos_crmcom_screenshots_till", login="pos_user", timeout=240
        )
        order = self.env["pos.order"].search([("session_id", "=", session.id)])
        self.assertEqual(len(order), 1)
        self.assertEqual(order.crmcom_state, "sent", "the order form shows a sent order")

        self.start_tour(
            f"/odoo/action-point_of_sale.action_pos_pos_form/{order.id}",
            "pos_crmcom_screenshots_order",
            login="admin",
            timeout=120,
        )
        for name in (
            "settings.png",
            "identify.png",
            "rewards_panel.png",
            "spend_popup.png",
            "discount_line.png",
            "receipt.png",
            "order_crmcom_tab.png",
        ):
            path = Path(SCREENSHOTS_DIR) / name
            self.assertTrue(
                path.is_file() and path.stat().st_mtime >= started, f"{name} was not written"
            )
