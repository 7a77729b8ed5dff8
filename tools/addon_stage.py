"""Copy the addon's source files into a folder literally named pos_crmcom_rewards.

Used by tools/build-wheel and tools/update-pot. Both need the addon in a folder
named after it (whool takes the distribution name from the folder name; Odoo
finds an addon by its folder name) and without what a clone also holds: the
generated .build/ (whose addons/pos_crmcom_rewards symlink points back at the
clone, a loop for Odoo's translation exporter, which follows symlinks), .venv/,
caches. For the wheel (``shipped=True``), also without the development trees
that .gitattributes marks ``export-ignore`` (.ci/, tools/, bench/, pure_tests/,
install_tests/): whool packages every file git tracks and has no exclude setting,
so the copy it builds from leaves them out, as ``git archive`` does. Standard
library only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ADDON = "pos_crmcom_rewards"
REPO = Path(__file__).resolve().parent.parent

# Only for a copy without git (a tarball): what .gitignore keeps out.
_NOT_SOURCE = (
    ".git",
    ".build",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "build",
    "dist",
    "node_modules",
    "*.egg-info",
    "*.pyc",
    "*.pyo",
)


def export_ignored(repo: Path, names: list[str]) -> set[str]:
    """The names among ``names`` that .gitattributes marks ``export-ignore``."""
    out = subprocess.run(
        ["git", "check-attr", "-z", "--stdin", "export-ignore"],
        cwd=repo,
        input="\0".join(names).encode(),
        check=True,
        capture_output=True,
    ).stdout.decode()
    fields = out.split("\0")
    # -z output: path NUL attribute NUL value NUL, for every path.
    return {fields[i] for i in range(0, len(fields) - 2, 3) if fields[i + 2] in ("set", "true")}


def _export_ignored_tops(repo: Path) -> list[str]:
    """Without git: the top-level names that .gitattributes marks export-ignore."""
    attributes = repo / ".gitattributes"
    if not attributes.is_file():
        return []
    tops = []
    for line in attributes.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and "export-ignore" in parts[1:] and parts[0].startswith("/"):
            tops.append(parts[0].strip("/").split("/")[0])
    return tops


def source_files(repo: Path = REPO, include_untracked: bool = False) -> list[str] | None:
    """Paths (relative to repo) of the addon's files as git sees them.

    Tracked files present in the working tree (with their working-tree content,
    as whool does); with include_untracked, also new files not ignored by
    .gitignore (a string added in a file not yet committed still counts).
    None when repo is not a git checkout.
    """
    cmd = ["git", "ls-files", "-z", "--cached"]
    if include_untracked:
        cmd += ["--others", "--exclude-standard"]
    try:
        out = subprocess.run(cmd, cwd=repo, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    names = sorted({name for name in out.decode().split("\0") if name})
    return [name for name in names if (repo / name).is_file()]


def stage(
    dest_parent: Path, repo: Path = REPO, include_untracked: bool = False, shipped: bool = False
) -> Path:
    """Copy the addon into dest_parent/pos_crmcom_rewards (must not exist); return it.

    shipped: only what ships (the development trees marked export-ignore left out).
    """
    dest = Path(dest_parent) / ADDON
    files = source_files(repo, include_untracked)
    if files is None:
        ignore = list(_NOT_SOURCE) + (_export_ignored_tops(repo) if shipped else [])
        shutil.copytree(repo, dest, ignore=shutil.ignore_patterns(*ignore))
        return dest
    if shipped:
        left_out = export_ignored(repo, files)
        files = [name for name in files if name not in left_out]
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    return dest
