"""Read an odoo-bin log and find the lines that must fail an install test.

Policy: every WARNING, ERROR or CRITICAL record fails, and so does any output
that is not a log record (a traceback printed before logging is set up, a
stray print, a library writing to stderr) -- except what the ignore lists name.
Nothing that names ``pos_crmcom_rewards`` is ever excused.

The records are checked by checklog-odoo (PyPI, the OCA/ACSONE log checker),
with its ignore list in ``install_tests/checklog-odoo.cfg``; see ``checklog``.
This module keeps only what checklog-odoo does not do: it drops the lines
before the first log record and files any other line that is not a record
under the record above it (an INFO record, which it never reports), so the
output that is not a log record is found here (``stray_output``), with its own
one-entry allow list, and the hints that name the cause of known messages.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ADDON = "pos_crmcom_rewards"
CHECKLOG_CFG = Path(__file__).resolve().parent / "checklog-odoo.cfg"
# Every ignore entry of CHECKLOG_CFG starts with this (\A: checklog-odoo searches
# with re.MULTILINE, where ^ also matches after the last line): the record must not name
# the addon (test_log_checker.py holds the file to it).
ADDON_GUARD = rf"\A(?![\s\S]*{ADDON})"

# Odoo's log format (odoo/netsvc.py):
#   '%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s'
HEADER_RE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<pid>\d+) (?P<level>[A-Z_]+) "
    r"(?P<db>\S+) (?P<logger>[^\s:]+): ?(?P<msg>.*)$"
)
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
BAD_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
# Lines written straight to stderr by libraries (not log records) that can land
# between the lines of a multi-line INFO record: docutils' reporter
# ("<string>:44: (WARNING/2) ...") and the warnings module ("x.py:3: FooWarning: ...").
STRAY_RE = re.compile(r"^\S+:\d+: (\((WARNING|ERROR|SEVERE)/\d\) |\w*(Warning|Error): )")
# Output that is not a log record and is not the addon's fault (whole line).
NOT_A_RECORD_ALLOWED = (
    # odoo/cli/server.py check_root_user() writes this to stderr whenever
    # odoo-bin runs as root, which CI machines do.
    re.escape("Running as user 'root' is a security risk."),
)
# Known messages whose log line does not name the module at fault.
HINTS = (
    (
        re.compile(r"docutils' system message present|^<string>:\d+: \(", re.MULTILINE),
        "Odoo renders a module's description (the manifest's 'description', else "
        "README.rst/README.md/README.txt) as reStructuredText when the module has no "
        "static/description/index.html. A Markdown README.md triggers this: add "
        "static/description/index.html, or a valid RST 'description' in __manifest__.py.",
    ),
)


@dataclass
class Record:
    lineno: int  # 1-based line of the first line in the log
    level: str | None  # None: output that is not a log record
    logger: str | None
    message: str  # first line of the message
    lines: list[str] = field(default_factory=list)  # all lines, continuation included

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse(log_text: str) -> list[Record]:
    """Split a log into records; continuation lines (tracebacks, multi-line
    messages) belong to the record above them, except library lines written to
    stderr (STRAY_RE); lines before the first record are records of their own
    with level None."""
    records: list[Record] = []
    current: Record | None = None
    for lineno, raw in enumerate(log_text.splitlines(), start=1):
        line = ANSI_RE.sub("", raw).rstrip()
        match = HEADER_RE.match(line)
        if match:
            current = Record(lineno, match["level"], match["logger"], match["msg"].strip(), [line])
            records.append(current)
        elif current is not None and current.level not in BAD_LEVELS and STRAY_RE.match(line):
            records.append(Record(lineno, None, None, line.strip(), [line]))
        elif current is not None:
            current.lines.append(line)
        elif line.strip():
            records.append(Record(lineno, None, None, line.strip(), [line]))
    return records


def stray_output(log_text: str) -> list[Record]:
    """Output that is not a log record and not allowed: fails the test."""
    return [
        rec
        for rec in parse(log_text)
        if rec.level is None
        and (
            ADDON in rec.text
            or not any(re.fullmatch(allowed, rec.message) for allowed in NOT_A_RECORD_ALLOWED)
        )
    ]


def ignore_entries(cfg: Path = CHECKLOG_CFG) -> list[str]:
    """The regular expressions of the ignore list, as checklog-odoo reads them."""
    parser = configparser.RawConfigParser()
    parser.read(cfg)
    text = parser.get("checklog-odoo", "ignore", fallback="")
    return [line.strip() for line in text.splitlines() if line.strip()]


def checklog(log_path: Path, cfg: Path = CHECKLOG_CFG) -> tuple[bool, str]:
    """Run checklog-odoo on the log: (no failing record, its report)."""
    proc = subprocess.run(
        [sys.executable, "-m", "checklog_odoo", "--no-echo", "-c", str(cfg), str(log_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def describe(recs: list[Record], limit: int = 10, max_lines: int = 15) -> str:
    out = []
    for rec in recs[:limit]:
        head = f"line {rec.lineno}: " + ("[not a log record]" if rec.level is None else rec.level)
        body = rec.lines[:max_lines]
        if len(rec.lines) > max_lines:
            body.append(f"... ({len(rec.lines) - max_lines} more lines)")
        out.append(head + "\n    " + "\n    ".join(body))
    if len(recs) > limit:
        out.append(f"... and {len(recs) - limit} more")
    return "\n".join(out)


def hints(text: str) -> str:
    """The hints whose message appears in ``text`` (a report), one a line."""
    return "\n".join("hint: " + hint for pattern, hint in HINTS if pattern.search(text))
