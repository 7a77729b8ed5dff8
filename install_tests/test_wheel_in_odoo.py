"""Odoo runs the addon from its pip-installed wheel, without an addons-path entry.

The wheel (tools/build-wheel, whool) is installed with `pip install --no-deps
--target` into a temporary folder put on PYTHONPATH, as site-packages would be;
the addons path names Odoo's own addons only. Odoo must then find the addon
there (odoo.addons spans every odoo/addons folder of the Python path), import
its CRM.COM client and simulator as odoo.addons.pos_crmcom_rewards.*, and
upgrade it in $TEST_DB from that copy with a clean log: every data file,
view and asset the addon needs is in the wheel.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from odoo_log import ADDON

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build-wheel"), "-o", str(tmp / "dist")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"tools/build-wheel failed:\n{build.stdout}\n{build.stderr}"
    wheel = build.stdout.strip().splitlines()[-1]
    target = tmp / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            wheel,
        ],
        check=True,
        timeout=300,
    )
    assert (target / "odoo" / "addons" / ADDON / "__manifest__.py").is_file()
    return target


def odoo_only_addons_path(odoo) -> str:
    return f"{odoo.odoo_path / 'addons'},{odoo.odoo_path / 'odoo' / 'addons'}"


def test_odoo_imports_the_addon_from_the_wheel(odoo, site, tmp_path):
    probe = f"""
import odoo
from odoo.tools import config
config.parse_config(["--addons-path", {odoo_only_addons_path(odoo)!r}])
from odoo.modules.module import get_module_path, initialize_sys_path
initialize_sys_path()
print(get_module_path({ADDON!r}))
import odoo.addons.{ADDON}.crmcom as client
import odoo.addons.{ADDON}.crmcom_simulator as simulator
print(client.__file__)
print(simulator.__file__)
print(client.CrmcomClient.__module__)
"""
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the clone: nothing may come from it
    )
    assert proc.returncode == 0, proc.stderr
    installed = str(site / "odoo" / "addons" / ADDON)
    module_path, client_file, simulator_file, client_module = proc.stdout.strip().splitlines()[-4:]
    assert module_path == installed
    assert client_file == f"{installed}/crmcom/__init__.py"
    assert simulator_file == f"{installed}/crmcom_simulator/__init__.py"
    assert client_module == f"odoo.addons.{ADDON}.crmcom.client"


def test_odoo_upgrades_the_addon_from_the_wheel(odoo, test_db, site):
    if not odoo.db_exists(test_db):
        pytest.fail(f"database {test_db} does not exist: the install test failed")
    run = odoo.run(
        "upgrade-from-wheel",
        "--addons-path",
        odoo_only_addons_path(odoo),
        "-d",
        test_db,
        "-u",
        ADDON,
        "--stop-after-init",
        env={"PYTHONPATH": str(site)},
    )
    run.assert_clean()
    assert odoo.modules(test_db, [ADDON])[ADDON][0] == "installed"
