"""Self-test of the log policy used by test_install.py (no Odoo needed)."""

import odoo_log
from odoo_log import Allowed, problems

H = "2025-08-20 10:00:00,123 4242"
LOG = f"""Running as user 'root' is a security risk.
{H} INFO ? odoo: Odoo version 18.0
{H} INFO db odoo.modules.loading: Module pos_crmcom_rewards loaded in 0.14s, 16 queries
{H} WARNING db odoo.models: Two fields (a, b) of x.y have the same label: A.
{H} ERROR db odoo.sql_db: bad query: SELECT 1
Traceback (most recent call last):
  File "x.py", line 1, in <module>
psycopg2.errors.SyntaxError: boom
{H} INFO db odoo.modules.loading: Modules loaded.
"""


def test_root_notice_is_allowed_and_info_is_ignored():
    assert problems(LOG.split("\n", 1)[0] + "\n" + f"{H} INFO db odoo: fine\n") == []


def test_warning_and_error_fail_with_their_traceback():
    bad = problems(LOG)
    assert [(r.level, r.logger) for r in bad] == [
        ("WARNING", "odoo.models"),
        ("ERROR", "odoo.sql_db"),
    ]
    assert bad[1].lineno == 5
    assert "psycopg2.errors.SyntaxError: boom" in bad[1].text
    assert "line 5: ERROR" in odoo_log.describe(bad)


def test_output_that_is_not_a_log_record_fails():
    bad = problems("Traceback (most recent call last):\nImportError: no module\n")
    assert [r.level for r in bad] == [None, None]


def test_allow_list_matches_level_logger_and_whole_message():
    allow = (
        Allowed(
            "WARNING", "odoo.models", r"Two fields \(a, b\) of x\.y have the same label: A\.", "t"
        ),
    )
    bad = problems(LOG, allow)
    assert [r.logger for r in bad] == [None, "odoo.sql_db"]  # root notice no longer allowed
    other_logger = (Allowed("WARNING", "odoo.fields", allow[0].message, "t"),)
    assert "odoo.models" in [r.logger for r in problems(LOG, other_logger)]


def test_allow_list_never_excuses_a_line_naming_the_addon():
    log = f"{H} WARNING db odoo.models: pos_crmcom_rewards: field x has no string\n"
    allow = (Allowed("WARNING", "odoo.models", r".*", "t"),)
    assert len(problems(log, allow)) == 1


def test_ansi_colours_are_ignored():
    log = f"{H} \x1b[1;33m\x1b[1;49mWARNING\x1b[0m db odoo.models: x\n"
    assert [r.level for r in problems(log)] == ["WARNING"]


def test_library_stderr_between_info_lines_fails_and_gets_a_hint():
    log = (
        f"{H} INFO db odoo.modules.loading: updating modules list\n"
        '<string>:24: (ERROR/3) Undefined substitution referenced: "---".\n'
        f"{H} WARNING db odoo.addons.base.models.ir_module: docutils' system message present: x\n"
    )
    bad = problems(log)
    assert [(r.level, r.lineno) for r in bad] == [(None, 2), ("WARNING", 3)]
    assert "README" in odoo_log.describe(bad)


def test_multi_line_info_messages_are_fine():
    assert problems(f"{H} INFO db odoo: a table\n| x | y |\n  indented: text\n") == []
