"""The committed JSON Schema of the report (``tests/contract/report.schema.json``): what it
holds, how it is compared with the model, and when it may change.

The file is what ``lenskit doctor --json-schema`` prints (``report_json_schema()``, made from
``Report.model_json_schema()``), plus the key ``x-lkdoctor-schema-version``: the
``SCHEMA_VERSION`` it was written under (JSON Schema ignores keys it does not know).

The rule: the model's schema must equal the file, and ``SCHEMA_VERSION`` the version the file
records; a change of schema comes with a new version that CHANGELOG.md's ``## [Unreleased]``
section names ("Schema X.Y") and a regenerated file, one command:

    LKDOCTOR_UPDATE_SCHEMA=1 pytest tests/contract

It writes only a schema whose version the Unreleased section names (a released version's
schema never changes under it); a first file is always written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "tests" / "contract" / "report.schema.json"
CHANGELOG = REPO / "CHANGELOG.md"
VERSION_KEY = "x-lkdoctor-schema-version"
UPDATE_VARIABLE = "LKDOCTOR_UPDATE_SCHEMA"
REGENERATE = f"{UPDATE_VARIABLE}=1 pytest tests/contract"


def committed() -> dict[str, Any]:
    """The committed file, as written (with its recorded version)."""
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return data


def committed_schema() -> dict[str, Any]:
    """The committed schema, to validate reports against."""
    return {key: value for key, value in committed().items() if key != VERSION_KEY}


def recorded_version() -> str | None:
    return committed().get(VERSION_KEY) if SCHEMA_FILE.exists() else None


def unreleased_section(changelog: str) -> str:
    """The text of the ``## [Unreleased]`` section ('' when there is none)."""
    match = re.search(r"^## \[Unreleased\][^\n]*\n(.*?)(?=^## |\Z)", changelog, re.M | re.S)
    return match.group(1) if match else ""


def changelog_names(version: str, changelog: str) -> bool:
    """Whether the Unreleased section has a line naming "Schema <version>"."""
    pattern = rf"(?<![\w.])Schema {re.escape(version)}(?![\w]|\.\d)"
    return re.search(pattern, unreleased_section(changelog)) is not None


def difference(current: dict[str, Any], file: dict[str, Any]) -> list[str]:
    """Where two schemas differ, as JSON paths (at most a few, for the message)."""
    found: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if len(found) >= 8:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key not in b:
                    found.append(f"{path}/{key}: only in the model")
                elif key not in a:
                    found.append(f"{path}/{key}: only in the file")
                else:
                    walk(a[key], b[key], f"{path}/{key}")
        elif a != b:
            found.append(f"{path}: model {json.dumps(a)[:80]}, file {json.dumps(b)[:80]}")

    walk(current, file, "")
    return found


def verdict(
    current: dict[str, Any],
    version: str,
    file: dict[str, Any] | None,
    file_version: str | None,
    changelog: str,
) -> str | None:
    """Why the model's schema breaks the contract with the file; None when it keeps it."""
    if file is None:
        return f"no committed schema at {SCHEMA_FILE}: write it with {REGENERATE}"
    if current == file and version == file_version:
        return None
    where = "; ".join(difference(current, file)) or "the same keys"
    if version != file_version and changelog_names(version, changelog):
        # announced, but the file was not regenerated: reports would be validated against
        # the old contract
        return (
            f"SCHEMA_VERSION is {version} (announced), but {SCHEMA_FILE.name} still records "
            f"{file_version} ({where}): regenerate it with {REGENERATE}"
        )
    if version == file_version:
        return (
            f"the report's schema differs from {SCHEMA_FILE.name} (schema {version}): {where}. "
            f"Bump SCHEMA_VERSION in lkdoctor/model.py (MAJOR for removed or retyped keys, "
            f"MINOR for added ones) and say what changed in CHANGELOG.md's Unreleased section "
            f'("Schema X.Y"), or, while {version} is unreleased (the Unreleased section names '
            f'"Schema {version}"), fold the change into it; then run {REGENERATE}'
        )
    return (
        f"SCHEMA_VERSION is {version}, the file records {file_version}, but CHANGELOG.md's "
        f'Unreleased section has no line naming "Schema {version}": say what changed ({where})'
    )


def may_write(version: str, file_version: str | None, changelog: str) -> str | None:
    """Why the file may not be (re)written under ``version``; None when it may."""
    if file_version is None or changelog_names(version, changelog):
        return None
    return (
        f'CHANGELOG.md\'s Unreleased section does not name "Schema {version}": schema '
        f"{version} is released (or unannounced), so its file stays as it is; bump "
        "SCHEMA_VERSION and announce it first"
    )


def write(current: dict[str, Any], version: str) -> None:
    text = json.dumps({VERSION_KEY: version, **current}, indent=2, sort_keys=True)
    SCHEMA_FILE.write_text(text + "\n", encoding="utf-8")


def validate_report(data: dict[str, Any]) -> None:
    """Check a report (parsed JSON) against the committed schema; raises ValidationError."""
    import jsonschema

    jsonschema.Draft202012Validator(committed_schema()).validate(data)
