"""The report's JSON contract is a committed file, not whatever the model says today.

See ``tests/schema_contract.py`` for the rule; regenerate with
``LKDOCTOR_UPDATE_SCHEMA=1 pytest tests/contract``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jsonschema
import pytest
from helpers import run_cli, script
from schema_contract import (
    CHANGELOG,
    REGENERATE,
    SCHEMA_FILE,
    UPDATE_VARIABLE,
    changelog_names,
    committed_schema,
    may_write,
    recorded_version,
    verdict,
    write,
)

from lkdoctor.model import SCHEMA_VERSION
from lkdoctor.report import report_json_schema


def model_schema() -> dict[str, Any]:
    """The model's schema as it would be written (JSON round trip: lists, not tuples)."""
    loaded: dict[str, Any] = json.loads(json.dumps(report_json_schema()))
    return loaded


def test_the_model_keeps_the_committed_schema() -> None:
    current, changelog = model_schema(), CHANGELOG.read_text(encoding="utf-8")
    if os.environ.get(UPDATE_VARIABLE) == "1":
        refused = may_write(SCHEMA_VERSION, recorded_version(), changelog)
        assert refused is None, refused
        stale = not SCHEMA_FILE.exists() or committed_schema() != current
        if stale or recorded_version() != SCHEMA_VERSION:
            write(current, SCHEMA_VERSION)
    file = committed_schema() if SCHEMA_FILE.exists() else None
    problem = verdict(current, SCHEMA_VERSION, file, recorded_version(), changelog)
    assert problem is None, problem


def test_the_committed_file_is_a_valid_schema_of_this_version() -> None:
    schema = committed_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False  # unknown keys are contract changes too
    assert recorded_version() == schema["title"].rsplit(" ", 1)[-1]


def test_json_schema_option_prints_the_committed_schema_when_unchanged() -> None:
    result = run_cli(script("lkdoctor"), "--json-schema")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert recorded_version() == SCHEMA_VERSION, f"the file is stale: {REGENERATE}"
    assert printed == committed_schema(), f"the file is stale: {REGENERATE}"


# --- the rule itself, on made-up schemas and changelogs --------------------------------------

OLD = {"type": "object", "properties": {"a": {"type": "integer"}}}
NEW = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
ANNOUNCED = "# Changelog\n\n## [Unreleased]\n\n### Changed\n- `b` added. Schema 2.1.\n\n## [2.0.0]\n- Schema 2.0\n"
RELEASED_ONLY = "# Changelog\n\n## [Unreleased]\n\n### Fixed\n- a bug\n\n## [2.1.0]\n- Schema 2.1\n"


@pytest.mark.parametrize(
    ("current", "version", "file_version", "changelog", "keeps"),
    [
        (OLD, "2.0", "2.0", RELEASED_ONLY, True),  # unchanged
        (NEW, "2.0", "2.0", ANNOUNCED, False),  # changed, no bump
        (NEW, "2.1", "2.0", ANNOUNCED, False),  # bumped and announced, the file not rewritten
        (OLD, "2.1", "2.0", ANNOUNCED, False),  # the same keys, but the file's version is old
        (NEW, "2.1", "2.0", RELEASED_ONLY, False),  # bumped, announced only in a release
        (NEW, "2.2", "2.0", ANNOUNCED, False),  # the changelog names another version
        (NEW, "2.0", "2.1", ANNOUNCED, False),  # a version going back, not announced
    ],
)
def test_the_rule(
    current: dict[str, Any], version: str, file_version: str, changelog: str, keeps: bool
) -> None:
    assert (verdict(current, version, OLD, file_version, changelog) is None) is keeps


def test_a_bumped_version_keeps_the_contract_once_the_file_is_regenerated() -> None:
    assert verdict(NEW, "2.1", NEW, "2.1", ANNOUNCED) is None
    stale = verdict(NEW, "2.1", OLD, "2.0", ANNOUNCED)
    assert stale is not None and REGENERATE in stale and "still records 2.0" in stale


def test_changes_are_named_in_the_message() -> None:
    problem = verdict(NEW, "2.0", OLD, "2.0", ANNOUNCED)
    assert problem is not None and "/properties/b: only in the model" in problem
    assert REGENERATE in problem


def test_the_changelog_must_name_the_exact_version() -> None:
    assert changelog_names("2.1", ANNOUNCED)
    assert not changelog_names("2.1", ANNOUNCED.replace("Schema 2.1", "Schema 2.10"))
    assert not changelog_names("2.1", ANNOUNCED.replace("Schema 2.1", "Schema 12.1"))
    assert not changelog_names("2.0", ANNOUNCED)  # only in a released section


def test_only_an_announced_version_is_written() -> None:
    assert may_write("2.1", "2.0", ANNOUNCED) is None
    assert may_write("2.1", "2.1", ANNOUNCED) is None  # unreleased: changes fold into it
    assert may_write("2.1", "2.1", RELEASED_ONLY) is not None
    assert may_write("2.0", None, RELEASED_ONLY) is None  # the first file
