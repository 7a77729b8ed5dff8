"""README.md and static/description/index.html are generated from readme/*.md.

tools/gen-readme assembles both; these tests fail when either was edited by hand
or a fragment changed without running it, and check that the Apps page stays
plain, self-contained HTML.
"""

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GEN = REPO / "tools" / "gen-readme"
INDEX = REPO / "static" / "description" / "index.html"
VOID = {"img", "meta", "br", "hr", "link"}


def gen_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / "tools" / "gen-readme"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_readme_and_index_are_up_to_date_with_the_fragments():
    proc = gen_check(REPO)
    assert proc.returncode == 0, proc.stderr


def test_a_changed_fragment_makes_them_stale(tmp_path):
    for name in (
        "__manifest__.py",
        "README.md",
        "static/description/index.html",
        "tools/gen-readme",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "readme", tmp_path / "readme")
    assert gen_check(tmp_path).returncode == 0
    with (tmp_path / "readme" / "CONFIGURE.md").open("a") as fragment:
        fragment.write("\nOne more sentence.\n")
    proc = gen_check(tmp_path)
    assert proc.returncode == 1
    assert "README.md is out of date" in proc.stderr
    assert "index.html is out of date" in proc.stderr


def test_every_fragment_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    fragments = sorted((REPO / "readme").glob("*.md"))
    assert fragments
    for fragment in fragments:
        assert (
            fragment.read_text().strip() in readme
        ), f"{fragment.name} is not used by tools/gen-readme"


class _Structure(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.tags, self.images = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for name in ("src", "href"):
            if tag in ("script", "link") or (name in attrs and tag != "a" and "//" in attrs[name]):
                self.problems.append(f"external or scripted <{tag} {attrs}>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_index_html_is_plain_self_contained_html():
    text = INDEX.read_text()
    parser = _Structure()
    parser.feed(text)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    assert not parser.tags & {"script", "link", "iframe"}
    assert " style=" not in text  # Odoo strips style attributes from the Apps page
    # Images relative to static/description/, where Odoo serves them from.
    assert parser.images, "the screenshots are referenced"
    for src in parser.images:
        assert not src.startswith(("/", "static/")) and "//" not in src, src
        assert re.fullmatch(r"[\w./-]+\.png", src), src


def test_index_html_has_the_sections_of_the_readme_but_those_of_a_clone():
    # Quick start and Development are commands run in a clone, not in an
    # installed addon: README only; so is Operations (monitoring set-up).
    clone_only = ("Quick start", "Operations", "Development")
    readme_sections = re.findall(r"^## (.+)$", (REPO / "README.md").read_text(), re.M)
    html_sections = re.findall(r"<h2>(.+?)</h2>", INDEX.read_text())
    assert readme_sections[0] == "Quick start", "the quick start opens the README"
    assert all(section in readme_sections for section in clone_only)
    assert html_sections == [s for s in readme_sections if s not in clone_only]
    for needed in ("Compatibility", "Install", "Configure", "Usage", "Policies", "License"):
        assert needed in html_sections
