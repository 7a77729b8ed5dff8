"""Fixtures for the install tests: they drive odoo-bin in subprocesses.

Run them through tools/run-tests (which writes .build/odoo.conf first), or by
hand:  python -m pytest -p no:odoo install_tests   (Odoo must not be loaded in
this process: the addon is installed by odoo-bin, not imported here).

Environment:
  ODOO_PATH   Odoo 18 source tree (default /opt/odoo)
  ODOO_CONF   odoo config file (default <repo>/.build/odoo.conf)
  TEST_DB     database kept for the Odoo suite (default pos_crmcom_test)
  REUSE_DB=1  keep TEST_DB if it exists: only the upgrade runs (ignored if CI=true)
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import odoo_log

ADDON = odoo_log.ADDON
REPO = Path(__file__).resolve().parent.parent
TRUTHY = {"1", "true", "yes", "on"}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUTHY


@dataclass
class OdooRun:
    name: str
    cmd: list[str]
    returncode: int
    log_text: str
    log_path: Path
    seconds: float

    def assert_clean(self) -> None:
        """odoo-bin exited 0, loaded the addon, and logged nothing bad."""
        where = f"full log: {self.log_path}\ncommand: {' '.join(self.cmd)}"
        if self.returncode != 0:
            tail = "\n".join(self.log_text.splitlines()[-40:])
            pytest.fail(
                f"{self.name}: odoo-bin exited with {self.returncode}\n{tail}\n{where}",
                pytrace=False,
            )
        if f"Module {ADDON} loaded in" not in self.log_text:
            pytest.fail(f"{self.name}: {ADDON} was not loaded\n{where}", pytrace=False)
        stray = odoo_log.stray_output(self.log_text)
        clean, report = odoo_log.checklog(self.log_path)
        if stray or not clean:
            parts = []
            if not clean:
                parts.append(
                    "checklog-odoo (ignore list install_tests/checklog-odoo.cfg):\n" + report
                )
            if stray:
                parts.append(
                    f"{len(stray)} line(s) of output that is not a log record "
                    f"(install_tests/odoo_log.py):\n{odoo_log.describe(stray)}"
                )
            hints = odoo_log.hints(report + "\n" + odoo_log.describe(stray))
            pytest.fail(
                f"{self.name}: the log is not clean\n" + "\n".join(parts) + f"\n{hints}\n{where}",
                pytrace=False,
            )


class Odoo:
    def __init__(self, odoo_path: Path, conf: Path, log_dir: Path):
        self.odoo_bin = odoo_path / "odoo-bin"
        self.conf = conf
        self.log_dir = log_dir
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(conf)
        self.options = dict(parser["options"]) if parser.has_section("options") else {}
        self.reuse_db = _truthy("REUSE_DB") and not _truthy("CI")
        self.odoo_path = odoo_path
        # Databases that test_upgrade brought up to date with the source in this
        # session (test_pot then exports from them as they are).
        self.upgraded: set[str] = set()

    def _opt(self, key: str):
        value = self.options.get(key)
        return None if value in (None, "", "False", "None") else value

    def run(self, name: str, *args: str, timeout: int = 1800, env: dict | None = None) -> OdooRun:
        cmd = [sys.executable, str(self.odoo_bin), "-c", str(self.conf), "--log-level=info", *args]
        log_path = self.log_dir / f"{name}.log"
        start = time.monotonic()
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            cwd=REPO,
            env=None if env is None else {**os.environ, **env},
        )
        seconds = time.monotonic() - start
        log_path.write_text(proc.stdout)
        # Progress in the pytest output of tools/run-tests (an install takes minutes).
        print(f"[{name}] {seconds:.1f}s, exit {proc.returncode}, log {log_path}")  # pylint: disable=print-used
        return OdooRun(name, cmd, proc.returncode, proc.stdout, log_path, seconds)

    # -- database helpers (psycopg2 comes with Odoo's requirements) --
    def _connect(self, dbname: str = "postgres"):
        import psycopg2

        params = {
            "dbname": dbname,
            "host": self._opt("db_host"),
            "port": self._opt("db_port"),
            "user": self._opt("db_user"),
            "password": self._opt("db_password"),
        }
        conn = psycopg2.connect(**{k: v for k, v in params.items() if v})
        conn.autocommit = True
        return conn

    def db_exists(self, dbname: str) -> bool:
        with self._connect() as conn, conn.cursor() as cr:
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
            return cr.fetchone() is not None

    def drop_db(self, dbname: str) -> None:
        from psycopg2 import sql

        conn = self._connect()
        try:
            with conn.cursor() as cr:
                # psycopg2.sql quotes the name; pylint-odoo only recognises it when
                # imported at module level, and psycopg2 is imported lazily here.
                cr.execute(  # pylint: disable=sql-injection
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )
        finally:
            conn.close()
        data_dir = self._opt("data_dir")
        if data_dir:
            shutil.rmtree(Path(data_dir) / "filestore" / dbname, ignore_errors=True)

    def modules(self, dbname: str, names: list[str]) -> dict[str, tuple[str, bool]]:
        """{module: (state, demo)} read from ir_module_module."""
        conn = self._connect(dbname)
        try:
            with conn.cursor() as cr:
                cr.execute(
                    "SELECT name, state, demo FROM ir_module_module WHERE name = ANY(%s)", [names]
                )
                return {name: (state, demo) for name, state, demo in cr.fetchall()}
        finally:
            conn.close()


@pytest.fixture(scope="session")
def odoo() -> Odoo:
    odoo_path = Path(os.environ.get("ODOO_PATH", "/opt/odoo"))
    if not (odoo_path / "odoo-bin").is_file():
        pytest.skip(f"no odoo-bin in ODOO_PATH={odoo_path}")
    conf = Path(os.environ.get("ODOO_CONF", REPO / ".build" / "odoo.conf"))
    if not conf.is_file():
        pytest.fail(f"{conf} is missing: run tools/run-tests, which writes it")
    log_dir = Path(os.environ.get("ODOO_LOG_DIR", REPO / ".build" / "logs"))
    log_dir.mkdir(parents=True, exist_ok=True)
    return Odoo(odoo_path, conf, log_dir)


@pytest.fixture(scope="session")
def test_db() -> str:
    return os.environ.get("TEST_DB", "pos_crmcom_test")


@pytest.fixture(scope="session")
def reuse(odoo, test_db) -> bool:
    """REUSE_DB=1 (and not CI) and $TEST_DB existed when the session started."""
    return odoo.reuse_db and odoo.db_exists(test_db)
