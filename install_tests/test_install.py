"""Install the addon with odoo-bin the way a user would, and read the logs.

Order matters (pytest runs them as written): the demo database built by the
first test is upgraded by the second and then KEPT as $TEST_DB for the Odoo
suite (tools/run-tests step "odoo"); the no-demo database is dropped.
"""

import pytest

from odoo_log import ADDON

STOP = "--stop-after-init"


def test_install_with_demo(odoo, test_db, reuse):
    if reuse:
        pytest.skip(f"REUSE_DB=1: database {test_db} exists, not rebuilt (upgrade only)")
    odoo.drop_db(test_db)
    run = odoo.run("install-with-demo", "-d", test_db, "-i", ADDON, STOP)
    run.assert_clean()
    mods = odoo.modules(test_db, [ADDON, "point_of_sale"])
    assert mods[ADDON] == ("installed", True), mods
    assert mods["point_of_sale"] == ("installed", True), mods


def test_upgrade(odoo, test_db):
    if not odoo.db_exists(test_db):
        pytest.fail(f"database {test_db} does not exist: the install test failed")
    run = odoo.run("upgrade", "-d", test_db, "-u", ADDON, STOP)
    run.assert_clean()
    assert odoo.modules(test_db, [ADDON])[ADDON][0] == "installed"
    odoo.upgraded.add(test_db)


def test_install_without_demo(odoo, test_db, reuse):
    if reuse:
        pytest.skip("REUSE_DB=1: skipping the no-demo install")
    db = f"{test_db}_nodemo"
    odoo.drop_db(db)
    try:
        run = odoo.run("install-without-demo", "-d", db, "--without-demo=all", "-i", ADDON, STOP)
        run.assert_clean()
        mods = odoo.modules(db, [ADDON, "point_of_sale"])
        assert mods[ADDON] == ("installed", False), mods
        assert mods["point_of_sale"] == ("installed", False), mods
    finally:
        odoo.drop_db(db)
