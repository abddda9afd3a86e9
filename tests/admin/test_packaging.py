"""The admin's templates, static files and translations ship in the package (package-data)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "django_batchqueue"


def test_admin_templates_and_static_files_match_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["django_batchqueue"]
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    needed = [
        p
        for folder in ("templates", "static", "locale")
        for p in (PACKAGE / folder).rglob("*")
        if p.is_file()
    ]
    assert {p.name for p in needed} >= {
        "admin.css",
        "admin.js",
        "change_list.html",
        "change_form.html",
        "job_table.html",
        "django.po",
        "django.mo",
    }
    assert [p for p in needed if p not in shipped] == []
    # the browser tests' dependency is installed by `make venv` (the dev group)
    assert "playwright" in " ".join(config["dependency-groups"]["dev"])
