"""The committed translation template is what Odoo's exporter gives today.

tools/update-pot exports the template of the addon from $TEST_DB (upgraded from
the source by test_upgrade just before, else upgraded here first) into a
temporary file; every message (msgid) and where it comes from (occurrences:
which field, view, Python or JS file) must match i18n/pos_crmcom_rewards.pot.
A new _() / _t() string, a changed label or view text, or a string moved to
another record makes this fail until tools/update-pot is run.
"""

import os
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from odoo_log import ADDON

REPO = Path(__file__).resolve().parent.parent
POT = REPO / "i18n" / f"{ADDON}.pot"


def entries(path: Path) -> dict[tuple[str | None, str], set[str]]:
    return {
        (entry.msgctxt, entry.msgid): {name for name, _line in entry.occurrences}
        for entry in polib.pofile(str(path))
        if not entry.obsolete
    }


def show(keys) -> str:
    return "\n".join(f"  {msgid!r}" for _ctx, msgid in sorted(keys, key=lambda k: k[1])[:20])


@pytest.fixture(scope="module")
def exported(odoo, test_db, tmp_path_factory) -> Path:
    if not odoo.db_exists(test_db):
        pytest.fail(f"database {test_db} does not exist: the install test failed")
    out = tmp_path_factory.mktemp("pot") / f"{ADDON}.pot"
    cmd = [
        sys.executable,
        str(REPO / "tools" / "update-pot"),
        "-c",
        str(odoo.conf),
        "--db",
        test_db,
        "-o",
        str(out),
    ]
    if test_db in odoo.upgraded:
        cmd.append("--no-update")
    proc = subprocess.run(
        cmd,
        env={**os.environ, "PYTHON": sys.executable, "ODOO_PATH": str(odoo.odoo_path)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, f"tools/update-pot failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_committed_template_is_up_to_date(exported):
    assert POT.is_file(), f"{POT.relative_to(REPO)} is missing: run tools/update-pot"
    now, committed = entries(exported), entries(POT)
    new = now.keys() - committed.keys()
    gone = committed.keys() - now.keys()
    moved = {key for key in now.keys() & committed.keys() if now[key] != committed[key]}
    assert not (new or gone or moved), (
        f"{POT.relative_to(REPO)} is stale: run tools/update-pot\n"
        f"{len(new)} new message(s):\n{show(new)}\n"
        f"{len(gone)} message(s) no longer in the addon:\n{show(gone)}\n"
        f"{len(moved)} message(s) with other occurrences:\n{show(moved)}"
    )


def test_template_covers_python_js_qweb_and_records(exported):
    # A broken extraction (no JS strings, say) must not pass as "up to date".
    occurrences = set().union(*entries(exported).values())
    base = f"code:addons/{ADDON}/"
    kinds = {
        "Python _()": lambda o: o.startswith(base + "models/") and o.endswith(".py"),
        "JS _t()": lambda o: o.startswith(base + "static/src/") and o.endswith(".js"),
        "QWeb templates": lambda o: o.startswith(base + "static/src/") and o.endswith(".xml"),
        "field labels": lambda o: o.startswith("model:ir.model.fields,field_description:"),
        "selection values": lambda o: o.startswith("model:ir.model.fields.selection,name:"),
        "views": lambda o: o.startswith("model_terms:ir.ui.view,arch_db:"),
    }
    missing = [kind for kind, match in kinds.items() if not any(match(o) for o in occurrences)]
    assert missing == [], f"the exported template has no {missing}"
