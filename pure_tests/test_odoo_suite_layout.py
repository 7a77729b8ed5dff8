"""Odoo's own runner (odoo-bin --test-tags) finds only the test modules that
tests/__init__.py imports, while pytest-odoo collects every file: a module left out
runs under one runner and silently not under the other."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def test_every_odoo_test_module_is_imported_by_the_tests_package():
    tree = ast.parse((TESTS / "__init__.py").read_text())
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    modules = {path.stem for path in TESTS.glob("test_*.py")}
    assert modules, "no Odoo test module found"
    assert modules - imported == set(), "not imported by tests/__init__.py"
