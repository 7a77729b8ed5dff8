"""Read an odoo-bin log and find the lines that must fail an install test.

Policy: every WARNING, ERROR or CRITICAL record fails, and so does any output
that is not a log record (a traceback printed before logging is set up, a
stray print) -- except the entries of ALLOW_LIST below.  An allow-list entry
never excuses a record that names this addon: whatever mentions
``pos_crmcom_rewards`` always fails.

The allow-list holds only core-Odoo noise actually observed when installing the
bare addon (with demo, without demo, upgrade) on Odoo 18.0 with this repo's
tools/run-tests.  Add an entry only after seeing the line in a real log, with
the reason, and keep the pattern as narrow as possible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ADDON = "pos_crmcom_rewards"

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
# Known messages whose log line does not name the module at fault.
HINTS = (
    (
        re.compile(r"docutils' system message present|^<string>:\d+: \("),
        "Odoo renders a module's description (the manifest's 'description', else "
        "README.rst/README.md/README.txt) as reStructuredText when the module has no "
        "static/description/index.html. A Markdown README.md triggers this: add "
        "static/description/index.html, or a valid RST 'description' in __manifest__.py.",
    ),
)


@dataclass(frozen=True)
class Allowed:
    """One accepted kind of line.

    level: log level, or None for output that is not a log record.
    logger: exact logger name (None for non-record output).
    message: regex that must match the whole first line of the message.
    why: where it comes from and why it is not the addon's fault.
    """

    level: str | None
    logger: str | None
    message: str
    why: str

    def matches(self, rec: Record) -> bool:
        return (
            rec.level == self.level
            and rec.logger == self.logger
            and re.fullmatch(self.message, rec.message) is not None
        )


ALLOW_LIST: tuple[Allowed, ...] = (
    Allowed(
        level=None,
        logger=None,
        message=re.escape("Running as user 'root' is a security risk."),
        why="odoo/cli/server.py check_root_user() writes this to stderr (not a log "
        "record) whenever odoo-bin runs as root, which CI machines do.",
    ),
    # Nothing else: installing the bare addon on Odoo 18.0 (with demo, without
    # demo, and -u) produced no WARNING/ERROR/CRITICAL record at all.
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
    messages) belong to the record above them; lines before the first record
    are records of their own with level None."""
    records: list[Record] = []
    current: Record | None = None
    for lineno, raw in enumerate(log_text.splitlines(), start=1):
        line = ANSI_RE.sub("", raw).rstrip()
        match = HEADER_RE.match(line)
        if match:
            current = Record(lineno, match["level"], match["logger"], match["msg"].strip(), [line])
            records.append(current)
        elif current is not None and not is_bad(current) and STRAY_RE.match(line):
            records.append(Record(lineno, None, None, line.strip(), [line]))
        elif current is not None:
            current.lines.append(line)
        elif line.strip():
            records.append(Record(lineno, None, None, line.strip(), [line]))
    return records


def is_bad(rec: Record) -> bool:
    return rec.level is None or rec.level in BAD_LEVELS


def problems(log_text: str, allow_list: tuple[Allowed, ...] = ALLOW_LIST) -> list[Record]:
    """Records that must fail the test."""
    found = []
    for rec in parse(log_text):
        if not is_bad(rec):
            continue
        if ADDON not in rec.text and any(allowed.matches(rec) for allowed in allow_list):
            continue
        found.append(rec)
    return found


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
    for pattern, hint in HINTS:
        if any(pattern.search(rec.message) for rec in recs):
            out.append("hint: " + hint)
    return "\n".join(out)
