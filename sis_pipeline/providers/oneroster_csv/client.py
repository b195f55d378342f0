"""Pages of a OneRoster CSV package's files, each row as the record the REST binding would serve.

Bulk files are the entity's complete set (what is gone is archived); delta files carry only changed rows.
"""

import codecs
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD
from sis_pipeline.providers.common.changes import ChangeProbe, newest_iso
from sis_pipeline.providers.common.contract import ProviderBase, refuse_unknown_options
from sis_pipeline.providers.oneroster_csv.fingerprint import package_fingerprint
from sis_pipeline.providers.oneroster_csv.package import DEFAULT_ENCODING, MAX_UNCOMPRESSED_BYTES, CsvPackage

PAGE_ROWS = 5000
KNOWN_OPTIONS = {"path", "extra_fields", "encoding", "max_uncompressed_bytes"}
USER_ROLES = {"student", "teacher", "administrator", "aide", "guardian", "parent", "relative", "proctor"}
TEACHER_ROLES = {"teacher"}
# collection -> the package file it is read from
FILES = {
    "schools": "orgs",
    "academicSessions": "academicSessions",
    "courses": "courses",
    "classes": "classes",
    "students": "users",
    "teachers": "users",
    "enrollments": "enrollments",
    "demographics": "demographics",
}
_USER_ID = re.compile(r"\{\s*([^:{}]+?)\s*:\s*([^{}]*?)\s*\}")


def split_list(cell: str | None) -> list[str]:
    return [item.strip() for item in (cell or "").split(",") if item.strip()]


def refs(cell: str | None) -> list[dict]:
    return [{"sourcedId": item} for item in split_list(cell)]


def ref(cell: str | None) -> dict | None:
    return {"sourcedId": cell} if cell else None


def user_ids(cell: str | None) -> list[dict]:
    """`{stateId:CA123},{district:77}` as OneRoster userIds."""
    return [{"type": kind, "identifier": value} for kind, value in _USER_ID.findall(cell or "")]


def _compact(record: dict) -> dict:
    """Empty fields are omitted, as in the REST binding."""
    return {key: value for key, value in record.items() if value not in (None, "", [])}


class OneRosterCsvReader(ProviderBase):
    collections = tuple(FILES)
    # None: a package is a snapshot read whole. A delta file already holds only the changes, and a bulk
    # file's rows cannot be skipped by dateLastModified (exports leave it blank; a row left out of a bulk
    # file would be archived by the next full sync): an incremental run reads the package as delivered.
    change_filtered = ()
    # a changed package is run as delivered: its manifest says which files are complete and which are deltas
    change_run_mode = "full"
    # users.csv has a `password` column; records are built field by field without it, and this keeps it so
    secret_fields = ("password",)

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        refuse_unknown_options(integration, KNOWN_OPTIONS)
        path = integration.options.get("path")
        if not path:
            raise ValueError("options.path: required: the package's zip file or folder")
        if not Path(path).exists():
            raise ValueError(f"options.path: {path} does not exist")
        try:
            codecs.lookup(integration.options.get("encoding", DEFAULT_ENCODING))
        except (LookupError, TypeError):
            raise ValueError(f"options.encoding: {integration.options['encoding']!r} is not an encoding Python knows") from None
        limit = integration.options.get("max_uncompressed_bytes", MAX_UNCOMPRESSED_BYTES)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"options.max_uncompressed_bytes: a positive number of bytes, got {limit!r}")

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        self.path = Path(integration.options["path"])
        self._package: CsvPackage | None = None
        self._roles: dict[str, list[dict]] | None = None
        self._unreadable_roles: dict[str, str] = {}

    @property
    def package(self) -> CsvPackage:
        """Opened when first read, so the change sensor can ask about a folder still waiting for its drop."""
        if self._package is None:
            self._package = CsvPackage(
                self.path,
                encoding=self.integration.options.get("encoding", DEFAULT_ENCODING),
                max_uncompressed_bytes=self.integration.options.get("max_uncompressed_bytes", MAX_UNCOMPRESSED_BYTES),
            )
        return self._package

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        """dateLastModified, read as the normaliser reads it (UTC; a stamp without an offset is UTC)."""
        return newest_iso(records, "dateLastModified")

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        """The package now at the configured path, by fingerprint: the sensor keeps the last token it ran
        for and starts a run when the fingerprint differs. Watermarks play no part: a drop is the change."""
        found = package_fingerprint(self.path)
        if found is None:
            return ChangeProbe(False, f"no package in {self.path}")
        fingerprint, files, size = found
        return ChangeProbe(True, f"package {self.path.name} fingerprint {fingerprint} ({files} files, {size} bytes)", token=fingerprint)

    def collection_modes(self) -> dict[str, str]:
        return {collection: self.package.mode(file) for collection, file in FILES.items()}

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        file = FILES[collection]
        bulk = self.package.mode(file) == "bulk"
        convert = getattr(self, f"_{file}")
        page: list[dict] = []
        for row in self.package.rows(file):
            if bulk and not row.get("status"):
                row["status"] = "active"  # bulk files leave status blank: every row is current
            record = self._unreadable(row, file, collection) if self._is_unreadable(row, file) else convert(row, collection)
            if record is not None:
                page.append(_compact(record))
                if len(page) >= PAGE_ROWS:
                    yield page
                    page = []
        if page:
            yield page

    def close(self) -> None:
        if self._package is not None:
            self._package.close()

    def _is_unreadable(self, row: dict, file: str) -> bool:
        if INPUT_ERROR_FIELD in row:
            return True
        return file == "users" and row.get("sourcedId") in self._read_roles()[1]

    def _unreadable(self, row: dict, file: str, collection: str) -> dict | None:
        """A row that cannot be read (or whose role cannot): kept with its id and why, for rejection.

        Its id keeps a full sync from archiving the record. A users row goes to the collection its
        role names; when the role itself is unreadable, to both students and teachers.
        """
        if file == "users":
            roles = {role["role"] for role in self._roles_of(row)} or {(row.get("role") or "").lower()}
            if roles & USER_ROLES and not roles & ({"student"} if collection == "students" else TEACHER_ROLES):
                return None
        elif file == "orgs" and (row.get("type") or "").lower() not in ("school", ""):
            return None
        reason = row.get(INPUT_ERROR_FIELD) or self._unreadable_roles[row.get("sourcedId", "")]
        return {"sourcedId": row.get("sourcedId"), "status": row.get("status"), INPUT_ERROR_FIELD: reason, "cells": row.get("_cells")}

    @staticmethod
    def _common(row: dict) -> dict:
        # `metadata.*` columns are the CSV binding's extension point: keep them as the REST binding does
        metadata = {key[len("metadata.") :]: value for key, value in row.items() if key.startswith("metadata.") and value}
        return {
            "sourcedId": row.get("sourcedId"),
            "status": row.get("status"),
            "dateLastModified": row.get("dateLastModified"),
            "metadata": metadata or None,
        }

    def _orgs(self, row: dict, collection: str) -> dict | None:
        if (row.get("type") or "").lower() != "school":
            return None  # the district and other non-school orgs are not schools
        return self._common(row) | {
            "name": row.get("name"),
            "type": row.get("type"),
            "identifier": row.get("identifier"),
            "parent": ref(row.get("parentSourcedId")),
        }

    def _academicSessions(self, row: dict, collection: str) -> dict:
        return self._common(row) | {
            key: row.get(key) for key in ("title", "type", "startDate", "endDate", "schoolYear")
        } | {"parent": ref(row.get("parentSourcedId"))}

    def _courses(self, row: dict, collection: str) -> dict:
        return self._common(row) | {
            "title": row.get("title"),
            "courseCode": row.get("courseCode"),
            "org": ref(row.get("orgSourcedId")),
            "grades": split_list(row.get("grades")),
        }

    def _classes(self, row: dict, collection: str) -> dict:
        return self._common(row) | {
            "title": row.get("title"),
            "classCode": row.get("classCode"),
            "classType": row.get("classType"),
            "course": ref(row.get("courseSourcedId")),
            "school": ref(row.get("schoolSourcedId")),
            "terms": refs(row.get("termSourcedIds")),
            "periods": split_list(row.get("periods")),
        }

    def _users(self, row: dict, collection: str) -> dict | None:
        roles = self._roles_of(row)
        primary = next((r for r in roles if r.get("roleType") == "primary"), roles[0] if roles else None)
        role = (primary or {}).get("role") or (row.get("role") or "").lower()
        wanted = role == "student" if collection == "students" else role in TEACHER_ROLES
        if not wanted:
            return None
        orgs = refs(row.get("orgSourcedIds")) or [{"sourcedId": r["orgSourcedId"]} for r in roles if r.get("orgSourcedId")]
        return self._common(row) | {
            "enabledUser": row.get("enabledUser"),
            "role": role,
            "orgs": orgs,
            "primaryOrg": ref(row.get("primaryOrgSourcedId")) or (ref(primary.get("orgSourcedId")) if primary else None),
            "username": row.get("username"),
            "userIds": user_ids(row.get("userIds")),
            "givenName": row.get("givenName"),
            "familyName": row.get("familyName"),
            "middleName": row.get("middleName"),
            "preferredFirstName": row.get("preferredGivenName"),
            "identifier": row.get("identifier"),
            "email": row.get("email"),
            "grades": split_list(row.get("grades")),
        }

    def _roles_of(self, row: dict) -> list[dict]:
        """1.2 keeps roles in roles.csv, keyed by user."""
        return self._read_roles()[0].get(row.get("sourcedId", ""), [])

    def _read_roles(self) -> tuple[dict[str, list[dict]], dict[str, str]]:
        """roles.csv, read once: each user's roles, and why a user's roles row could not be read."""
        if self._roles is None:
            self._roles = defaultdict(list)
            if self.package.version == "1.2" and self.package.mode("roles") != "absent":
                for role in self.package.rows("roles"):
                    if INPUT_ERROR_FIELD in role:
                        self._unreadable_roles[role.get("userSourcedId", "")] = role[INPUT_ERROR_FIELD]
                        continue
                    self._roles[role.get("userSourcedId", "")].append(
                        {**role, "role": (role.get("role") or "").lower(), "roleType": (role.get("roleType") or "").lower()}
                    )
        return self._roles, self._unreadable_roles

    def _enrollments(self, row: dict, collection: str) -> dict:
        return self._common(row) | {
            "class": ref(row.get("classSourcedId")),
            "school": ref(row.get("schoolSourcedId")),
            "user": ref(row.get("userSourcedId")),
            "role": row.get("role"),
            "primary": row.get("primary"),
            "beginDate": row.get("beginDate"),
            "endDate": row.get("endDate"),
        }

    def _demographics(self, row: dict, collection: str) -> dict:
        return self._common(row) | {"birthDate": row.get("birthDate"), "sex": row.get("sex")}
