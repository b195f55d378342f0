"""The /ws/v1 wire format: envelopes, expansions, extensions, and the quirks the settings switch on."""

from dataclasses import dataclass

from sis_simulators.powerschool.generated import EXTENSION_DATA, INTERNAL_KEYS
from sis_simulators.powerschool.people import STUDENT_EXTENSION
from sis_simulators.powerschool.settings import PowerSchoolSettings

STRING_ID_EVERY = 7


@dataclass(frozen=True)
class Resource:
    table: str  # the roster table it serves
    plural: str  # envelope key of a list
    singular: str  # key of each record, in a list and alone
    paged_as: str  # which `<name>_max_page_size` caps its pages
    expansions: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()


RESOURCES = {
    "school": Resource("schools", "schools", "school", "school"),
    "student": Resource(
        "students", "students", "student", "student",
        ("demographics", "addresses", "phones", "school_enrollment"), (STUDENT_EXTENSION,),
    ),
    "staff": Resource("staff", "staffs", "staff", "staff", ("emails", "addresses", "phones", "school_affiliations")),
    "section": Resource("sections", "sections", "section", "section"),
    "course": Resource("courses", "courses", "course", "course"),
    "term": Resource("terms", "terms", "term", "term"),
    "section_enrollment": Resource(
        "section_enrollments", "section_enrollments", "section_enrollment", "section_enrollment"
    ),
}


def requested_names(text: str | None) -> frozenset[str]:
    """`expansions=` or `extensions=`: a comma list, case and spaces ignored."""
    return frozenset(name.strip().lower() for name in (text or "").split(",") if name.strip())


def _unwrap_single_items(value):
    if isinstance(value, dict):
        return {key: _unwrap_single_items(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_unwrap_single_items(item) for item in value]
        return items[0] if len(items) == 1 else items
    return value


def _extension_data(data: dict, requested: frozenset[str]) -> dict | None:
    """`{table: {field: value}}` as PowerSchool nests it: named tables of named, typed string fields."""
    tables = []
    for table, values in data.items():
        if table in requested and values:
            fields = [{"name": name, "type": "String", "value": str(value)} for name, value in values.items()]
            tables.append({"name": table, "_field": fields})
    return {"_table_extension": tables} if tables else None


def render(
    resource: Resource, record: dict, settings: PowerSchoolSettings,
    expansions: frozenset[str] = frozenset(), extensions: frozenset[str] = frozenset(),
) -> dict:
    """One record as sent: requested expansions and extensions only, quirks applied."""
    empty = "" if settings.empty_expansions_as_strings else {}
    hidden = INTERNAL_KEYS.union(resource.expansions, (EXTENSION_DATA,))
    body = {key: value for key, value in record.items() if key not in hidden}
    for expansion in resource.expansions:
        if expansion in expansions:
            body[expansion] = record.get(expansion) or empty
    if extensions.intersection(resource.extensions):
        body[EXTENSION_DATA] = _extension_data(record.get(EXTENSION_DATA) or {}, extensions) or empty
    record_id = record.get("id")
    if settings.mixed_id_types and isinstance(record_id, int) and record_id % STRING_ID_EVERY == 0:
        body.update((key, str(body[key])) for key in ("id", "local_id") if key in body)
    return _unwrap_single_items(body) if settings.single_item_lists_as_objects else body


def list_body(resource: Resource, records: list[dict], settings: PowerSchoolSettings) -> dict:
    """`{"students": {"@expansions": ..., "student": [...]}}`; no records means no inner list key."""
    inner = {}
    if resource.expansions:
        inner["@expansions"] = ", ".join(resource.expansions)
    if resource.extensions:
        inner["@extensions"] = ",".join(resource.extensions)
    if records:
        single = len(records) == 1 and settings.single_item_lists_as_objects
        inner[resource.singular] = records[0] if single else records
    return {resource.plural: inner}


def count_body(count: int) -> dict:
    return {"resource": {"count": count}}
