"""The addon as a pip-installable wheel (OCA convention, built by whool).

tools/build-wheel builds it offline with the whool of this interpreter
(requirements-test.txt); these tests read the wheel itself: its metadata must
come from __manifest__.py, it must hold every file of the addon (the CRM.COM
client and simulator included) under odoo/addons/pos_crmcom_rewards/ and
nothing that could shadow Odoo, and a `pip install --no-deps` of it must lay the
addon out so that its pure parts import. (Importing it through Odoo, as
odoo.addons.pos_crmcom_rewards, is install_tests/test_wheel.py.)
"""

import ast
import os
import re
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
ADDON = "pos_crmcom_rewards"
PREFIX = f"odoo/addons/{ADDON}/"
MANIFEST = ast.literal_eval((REPO / "__manifest__.py").read_text())
# In the repository, not in the wheel (.gitattributes export-ignore).
DEVELOPMENT = (".ci/", "tools/", "bench/", "pure_tests/", "install_tests/", ".gitattributes")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build-wheel"), "-o", str(out)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"tools/build-wheel failed:\n{proc.stdout}\n{proc.stderr}"
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.is_file(), proc.stdout
    return path


@pytest.fixture(scope="module")
def version(wheel):
    # The manifest's version, then whool's post-version .N (N commits since the
    # manifest's version last changed), as OCA publishes them.
    match = re.fullmatch(
        rf"odoo_addon_{ADDON}-({re.escape(MANIFEST['version'])}(\.\d+)?)-py3-none-any\.whl",
        wheel.name,
    )
    assert match, wheel.name
    return match.group(1)


@pytest.fixture(scope="module")
def metadata(wheel, version):
    with zipfile.ZipFile(wheel) as zf:
        return HeaderParser().parsestr(
            zf.read(f"odoo_addon_{ADDON}-{version}.dist-info/METADATA").decode()
        )


def tracked_files():
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout
    return {name for name in out.decode().split("\0") if name and (REPO / name).is_file()}


def test_wheel_name_and_version_come_from_the_manifest(metadata, version):
    assert metadata["Name"] == f"odoo-addon-{ADDON}"
    assert metadata["Version"] == version
    assert metadata["Summary"] == MANIFEST["summary"]
    assert metadata["License"] == MANIFEST["license"]
    assert "Framework :: Odoo :: 18.0" in metadata.get_all("Classifier")


def test_requires_dist_is_odoo_18_and_the_manifest_dependencies(metadata):
    requirements = [Requirement(text) for text in metadata.get_all("Requires-Dist")]
    by_name = {req.name: req for req in requirements}
    assert len(by_name) == len(requirements), requirements
    odoo = by_name.pop("odoo")
    for version in ("18.0", "18.0.20250101", "18.0.1.3"):
        assert odoo.specifier.contains(version, prereleases=True), (odoo, version)
    for version in ("17.0", "18.1", "19.0"):
        assert not odoo.specifier.contains(version, prereleases=True), (odoo, version)
    # point_of_sale is a core addon: no odoo-addon-* requirement for it.
    declared = MANIFEST["external_dependencies"]["python"]
    assert declared, "the manifest declares the Python dependencies"
    assert sorted(str(req) for req in by_name.values()) == sorted(
        str(Requirement(d)) for d in declared
    )
    assert metadata["Requires-Python"] == ">=3.10"


def test_wheel_holds_the_whole_addon_and_nothing_else(wheel, version):
    with zipfile.ZipFile(wheel) as zf:
        names = [info.filename for info in zf.infolist() if not info.is_dir()]
    dist_info = f"odoo_addon_{ADDON}-{version}.dist-info/"
    outside = [n for n in names if not n.startswith((PREFIX, dist_info))]
    assert outside == [], "files outside the addon (an odoo/__init__.py would shadow Odoo)"
    in_addon = {n[len(PREFIX) :] for n in names if n.startswith(PREFIX)}
    # What git tracks, without the build configuration and the development trees.
    shipped = {name for name in tracked_files() if not name.startswith(DEVELOPMENT)}
    assert in_addon == shipped - {"pyproject.toml"}
    assert not [n for n in in_addon if n.startswith(DEVELOPMENT)]
    assert "PKG-INFO" not in in_addon
    for needed in (
        "tests/__init__.py",
        "tests/common.py",
        "__manifest__.py",
        "crmcom/__init__.py",
        "crmcom/client.py",
        "flows/__init__.py",
        "flows/till.py",
        "crmcom_simulator/__init__.py",
        "crmcom_simulator/scenarios/demo.json",
        f"i18n/{ADDON}.pot",
        "static/description/icon.png",
        "static/description/index.html",
    ):
        assert needed in in_addon, needed
    assert not [n for n in in_addon if "__pycache__" in n or n.startswith((".build/", ".venv/"))]


def test_pip_install_lays_out_an_importable_addon(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    addon = target / "odoo" / "addons" / ADDON
    assert (addon / "__manifest__.py").read_text() == (REPO / "__manifest__.py").read_text()
    # odoo and odoo.addons stay namespace portions: Odoo's own packages win.
    assert not (target / "odoo" / "__init__.py").exists()
    assert not (target / "odoo" / "addons" / "__init__.py").exists()
    # The pure parts work from the installed copy: the client, and the simulator
    # with its scenario files (package data), answering the client over HTTP.
    probe = f"""
import sys
sys.path.insert(0, {str(addon)!r})
import crmcom, crmcom_simulator
from crmcom_simulator import Simulator, load_scenario
assert crmcom.__file__.startswith({str(addon)!r}), crmcom.__file__
assert crmcom_simulator.__file__.startswith({str(addon)!r}), crmcom_simulator.__file__
scenario = load_scenario("test")
sim = Simulator(scenario).start()
try:
    key = scenario["credentials"]["web_api_keys"][0]
    client = crmcom.CrmcomClient(sim.base_url, web_api_key=key, token_cache=crmcom.TokenCache())
    print("token", bool(client.login()))
finally:
    sim.stop()
"""
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "token True"
