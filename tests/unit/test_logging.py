"""Loggers are named after their modules, and docs/operations.md names each of them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "django_batchqueue"
#: Modules allowed another logger name (none).
PENDING: set[str] = set()


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def loggers() -> dict[Path, list[str]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        calls = re.findall(r"logging\.getLogger\(([^)]*)\)", path.read_text())
        if calls:
            found[path] = calls
    return found


def test_every_logger_is_named_after_its_module():
    found = loggers()
    assert len(found) >= 6
    named_otherwise = {
        str(path.relative_to(PACKAGE)): calls
        for path, calls in found.items()
        if calls != ["__name__"] and str(path.relative_to(PACKAGE)) not in PENDING
    }
    assert named_otherwise == {}


def test_operations_docs_name_every_logger():
    docs = (ROOT / "docs" / "operations.md").read_text()
    missing = [module_name(path) for path in loggers() if f"`{module_name(path)}`" not in docs]
    assert missing == []
