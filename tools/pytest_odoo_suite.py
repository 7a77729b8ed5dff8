"""pytest plugin loaded by tools/run-tests for the Odoo suite (next to pytest-odoo).

Usage:  PYTHONPATH=tools python -m pytest -p pytest_odoo_suite --odoo-... <tests>

1. Guard: every test module, and every module imported from this repository,
   must live under ``odoo.addons.pos_crmcom_rewards``.  pytest-odoo only maps a
   test file to that name when the addon folder on the collected path is
   literally called ``pos_crmcom_rewards`` (tools/run-tests collects through
   the symlink .build/addons/pos_crmcom_rewards -> repo root).  If that ever
   breaks, the addon's code would be imported a second time under another name
   (e.g. the clone folder's), registering its models/controllers twice.
   Better to stop than to test that.
2. Drops one misleading record: pytest-odoo imports odoo.tests before Odoo's
   ``test_enable`` flag is set, so odoo.tests.common logs an ERROR "Importing
   test framework ..." with a full stack at start-up.  (Setting test_enable
   globally is not an option: the registry would then run every installed
   module's at_install tests.)  Only that record is filtered.
3. Reads every module manifest once, before pytest-odoo's HTTP server starts:
   CPython 3.11 before 3.11.8 may raise "SystemError: AST constructor recursion
   depth mismatch" when several threads run ast.parse at once (gh-106905), and
   the first requests of a tour load manifests (ast.literal_eval) in parallel.
   Cached manifests are never parsed again.
4. Prints, at the end of the run, what tests reported on the logger
   ``odoo.addons.pos_crmcom_rewards.report`` (e.g. the soak test's counts).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

ADDON = "pos_crmcom_rewards"
PREFIX = f"odoo.addons.{ADDON}"
REPO = Path(__file__).resolve().parent.parent


class _DropImportNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Importing test framework")


logging.getLogger("odoo.tests.common").addFilter(_DropImportNotice())


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


_REPORT = _Collect()
_report_logger = logging.getLogger(f"odoo.addons.{ADDON}.report")
_report_logger.setLevel(logging.INFO)
_report_logger.addHandler(_REPORT)


def _foreign_imports() -> list[str]:
    """Modules loaded from this repo's files under a name outside PREFIX."""
    bad = []
    for name, module in list(sys.modules.items()):
        if name == PREFIX or name.startswith(PREFIX + "."):
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        try:
            path = Path(file).resolve()
        except OSError:
            continue
        if not path.is_relative_to(REPO):
            continue
        top = path.relative_to(REPO).parts[0]
        if top.startswith(".") or top == "tools":  # .venv, .build, this plugin
            continue
        bad.append(f"{name} ({path})")
    return sorted(bad)


def pytest_collection_modifyitems(session, config, items):
    wrong = sorted(
        {
            item.module.__name__
            for item in items
            if getattr(item, "module", None) is not None
            and not item.module.__name__.startswith(PREFIX + ".")
        }
    )
    foreign = _foreign_imports()
    if wrong or foreign:
        raise pytest.UsageError(
            "pos_crmcom_rewards must be collected as odoo.addons.pos_crmcom_rewards "
            "(collect through .build/addons/pos_crmcom_rewards, see tools/run-tests).\n"
            + "".join(f"  test module with wrong name: {name}\n" for name in wrong)
            + "".join(f"  repo file imported under a foreign name: {name}\n" for name in foreign)
        )


def pytest_sessionstart(session):
    from odoo.modules import module

    for name in module.get_modules():
        module.get_manifest(name)


def pytest_terminal_summary(terminalreporter):
    if _REPORT.lines:
        terminalreporter.section(f"{ADDON} report")
        for line in _REPORT.lines:
            terminalreporter.write_line(line)


def pytest_report_header(config):
    return f"{ADDON}: tests collected as {PREFIX}.tests.* from {REPO}"
