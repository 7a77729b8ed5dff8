"""The small soak (tools/soak --small): two Odoo servers in prefork mode on one
database, two tills in their own processes, CRM.COM faults, one HTTP worker and
one cron worker killed mid-request; exactly one POSTED purchase per sale due and
wallets that add up (readme/DEVELOP.md, Soak).

Its database is a copy of $TEST_DB (built and upgraded by test_install.py just
before), dropped afterwards. pure_tests/test_soak_check.py proves that the check
fails a run that is not exactly once.
"""

import os
import subprocess
import sys

import pytest

from conftest import REPO


def test_small_soak_is_exactly_once(odoo, test_db):
    if not odoo.db_exists(test_db):
        pytest.fail(f"database {test_db} does not exist: the install test failed")
    soak_db = f"{test_db}_soak"
    env = {
        **os.environ,
        "ODOO_PATH": str(odoo.odoo_path),
        "PYTHON": sys.executable,
        "SOAK_DB": soak_db,
        "SOAK_TEMPLATE": test_db,
        "REBUILD": "1",
    }
    soak = str(REPO / "tools" / "soak")
    try:
        run = subprocess.run(
            [soak, "--small"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=1200,
            cwd=REPO,
        )
    finally:
        subprocess.run([soak, "--drop"], env=env, capture_output=True, check=False)
    (odoo.log_dir / "soak-small.log").write_text(run.stdout)
    # The table in the pytest output of tools/run-tests.
    print(run.stdout[run.stdout.find("| soak |") :])  # pylint: disable=print-used
    last = [line for line in run.stdout.splitlines() if line.startswith("soak:")]
    assert (
        run.returncode == 0 and last
    ), f"tools/soak --small exited with {run.returncode}:\n{run.stdout[-6000:]}"
    assert ", 0 duplicates, 0 lost;" in last[-1] and "wallets match" in last[-1], last[-1]
    # A server process that dies at start-up (the gevent one, on a missing package)
    # leaves tracebacks on its stderr while prefork starts it again and again.
    crashed = [line for line in run.stdout.splitlines() if " stderr | " in line]
    assert not crashed, "\n".join(crashed)
