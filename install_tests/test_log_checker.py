"""Self-test of the log policy used by test_install.py (no Odoo needed): checklog-odoo
with install_tests/checklog-odoo.cfg for the records, odoo_log.py for the rest."""

import re

import pytest

import odoo_log
from odoo_log import checklog, stray_output

H = "2025-08-20 10:00:00,123 4242"
ROOT_NOTICE = "Running as user 'root' is a security risk."
LOG = f"""{ROOT_NOTICE}
{H} INFO ? odoo: Odoo version 18.0
{H} INFO db odoo.modules.loading: Module pos_crmcom_rewards loaded in 0.14s, 16 queries
{H} WARNING db odoo.models: Two fields (a, b) of x.y have the same label: A.
{H} ERROR db odoo.sql_db: bad query: SELECT 1
Traceback (most recent call last):
  File "x.py", line 1, in <module>
psycopg2.errors.SyntaxError: boom
{H} INFO db odoo.modules.loading: Modules loaded.
"""


@pytest.fixture
def check(tmp_path):
    def run(text, ignore=None):
        log = tmp_path / "odoo.log"
        log.write_text(text)
        if ignore is None:
            return checklog(log)
        cfg = tmp_path / "checklog-odoo.cfg"
        cfg.write_text("[checklog-odoo]\nignore =\n" + "".join(f"    {i}\n" for i in ignore))
        return checklog(log, cfg)

    return run


def test_info_records_and_the_root_notice_are_clean(check):
    text = f"{ROOT_NOTICE}\n{H} INFO db odoo: fine\n{H} INFO db odoo: a table\n| x | y |\n"
    assert check(text) == (True, "")
    assert stray_output(text) == []


def test_warning_and_error_fail_with_their_traceback(check):
    clean, report = check(LOG)
    assert not clean
    assert "errors that caused failure (2)" in report
    assert "odoo.models: Two fields (a, b)" in report
    assert "psycopg2.errors.SyntaxError: boom" in report


def test_an_ignore_entry_excuses_only_what_it_matches(check):
    guard = odoo_log.ADDON_GUARD
    clean, report = check(LOG, [guard + r".* WARNING \S+ odoo\.models: Two fields"])
    assert not clean
    assert "errors that caused failure (1)" in report
    assert "did not cause failure (1)" in report
    assert check(LOG, [guard + r".* WARNING ", guard + r".* ERROR \S+ odoo\.sql_db: "])[0]


def test_the_guard_never_excuses_a_record_naming_the_addon(check):
    log = f"{H} WARNING db odoo.models: pos_crmcom_rewards: field x has no string\n"
    assert not check(log, [odoo_log.ADDON_GUARD + ".*"])[0]
    assert check(log.replace("pos_crmcom_rewards", "other_addon"), [odoo_log.ADDON_GUARD + ".*"])[0]


def test_every_entry_of_the_ignore_list_carries_the_guard():
    for entry in odoo_log.ignore_entries():
        assert entry.startswith(odoo_log.ADDON_GUARD), entry
        re.compile(entry)


def test_output_that_is_not_a_log_record_fails():
    bad = stray_output("Traceback (most recent call last):\nImportError: no module\n")
    assert [r.level for r in bad] == [None, None]
    assert stray_output(ROOT_NOTICE + "\n") == []
    assert stray_output(ROOT_NOTICE + " pos_crmcom_rewards\n") != []


def test_ansi_colours_are_ignored(check):
    log = f"{H} \x1b[1;33m\x1b[1;49mWARNING\x1b[0m db odoo.models: x\n"
    assert not check(log)[0]


def test_library_stderr_between_info_lines_fails_and_gets_a_hint(check):
    log = (
        f"{H} INFO db odoo.modules.loading: updating modules list\n"
        '<string>:24: (ERROR/3) Undefined substitution referenced: "---".\n'
        f"{H} WARNING db odoo.addons.base.models.ir_module: docutils' system message present: x\n"
    )
    bad = stray_output(log)
    assert [(r.level, r.lineno) for r in bad] == [(None, 2)]
    clean, report = check(log)
    assert not clean
    assert "README" in odoo_log.hints(report + odoo_log.describe(bad))
