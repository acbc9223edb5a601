"""With LKDOCTOR_UPDATE_SCHEMA=1, the file is rewritten (test_schema.py) before any report
is validated against it, whatever order the tests were collected in."""

from __future__ import annotations

import os

import pytest
from schema_contract import UPDATE_VARIABLE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(UPDATE_VARIABLE) == "1":
        items.sort(key=lambda item: item.path.name != "test_schema.py")  # stable: rest keep order
