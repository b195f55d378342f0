"""Every section enrollment from PowerSchool's `cc` table in large pages, when the plugin may read it.

The /ws/v1 roster is one list per section: a 24,000-section district costs 24,000+ requests, hours at
a typical 60 requests a minute. `cc` holds the whole district's enrollments, served by
/ws/schema/table in pages of up to `schema_table_query_max_page_size`, but only to a plugin whose
plugin.xml has an access request for the table (else 403, or 404 on older servers). cc names the
student and the section by their internal `id` (students.id, sections.id), not the DCID /ws/v1 keys
everything by, so the students and sections tables are read too (projection `dcid,id`) to translate.
A dropped enrollment has its sectionid (and termid) negated; /ws/v1 says `dropped: true` instead.

The records this yields are the /ws/v1 roster records (`id` = cc.dcid, `section_id`, `student_id`,
`entry_date`, `exit_date`, `dropped`), so both paths normalise to the same canonical enrollments.
"""

import logging
import math
from collections.abc import Iterator

from sis_pipeline.providers.common.http import REFUSED
from sis_pipeline.providers.powerschool.quirks import as_list

log = logging.getLogger(__name__)

SCHEMA_PATH = "/ws/schema/table/{table}"
CC_COLUMNS = "dcid,studentid,sectionid,dateenrolled,dateleft"


class RosterTableRefused(Exception):
    """The plugin may not read cc, or one of the tables that translate its ids to DCIDs."""


def _rows(api, table: str, columns: str, total: int | None = None) -> Iterator[list[dict]]:
    """Every row of one schema table (`/count` first unless `total` is known, then the largest pages
    allowed), values as strings."""
    path = SCHEMA_PATH.format(table=table)

    def records_of(body, response) -> list[dict]:
        return [row.get("tables", {}).get(table, {}) for row in as_list(body.get("record"))]

    if total is None:
        total = int(api.client.get_json(f"{path}/count")["count"])
    yield from api.pages(api._first_page(path, {"projection": columns}, "schema_table_query", total), records_of, table)


def _dcids(api, table: str) -> dict[str, str]:
    """internal id -> DCID of every row of `table`."""
    return {row["id"]: row["dcid"] for page in _rows(api, table, "dcid,id") for row in page if row.get("id")}


def cc_enrollments(api, listed_sections: list[str]) -> Iterator[list[dict]]:
    """Pages of roster records from cc, for the sections this run listed (as the per-section path reads).

    Raises RosterTableRefused before yielding anything when a table is refused, so the caller can fall
    back to the per-section requests with nothing half-read.
    """
    try:
        total = int(api.client.get_json(f"{SCHEMA_PATH.format(table='cc')}/count")["count"])
        students, sections = _dcids(api, "students"), _dcids(api, "sections")
    except REFUSED as error:
        raise RosterTableRefused(str(error)) from None
    size = api.page_size("schema_table_query")
    log.info(
        "%s section_enrollments: reading the cc table (%d rows) in pages of %d, about %d requests instead of one per section (%d)",
        api.integration.name, total, size, math.ceil(total / size), len(listed_sections),
    )
    return _translated(api, total, students, sections, set(listed_sections))


def _translated(api, total: int, students: dict, sections: dict, listed: set[str]) -> Iterator[list[dict]]:
    unlisted = unknown_students = 0
    for page in _rows(api, "cc", CC_COLUMNS, total):
        records = []
        for row in page:
            section_ref = row.get("sectionid") or ""
            section = sections.get(section_ref.lstrip("-"))
            if section not in listed:  # a section /ws/v1 did not list: the per-section path never reads it
                unlisted += 1
                continue
            student = students.get(row.get("studentid"))
            if student is None:  # the student row is gone: no DCID to key the enrollment by
                unknown_students += 1
                continue
            records.append({
                "id": row.get("dcid"), "section_id": section, "student_id": student,
                "entry_date": row.get("dateenrolled"), "exit_date": row.get("dateleft"),
                "dropped": section_ref.startswith("-"),
            })
        if records:
            yield records
    if unlisted or unknown_students:
        log.warning(
            "%s section_enrollments: left out %d cc rows of sections not listed this run and %d of students "
            "the students table no longer has", api.integration.name, unlisted, unknown_students,
        )
