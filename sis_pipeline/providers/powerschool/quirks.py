"""The quirks PowerSchool's responses really carry, undone record by record so every record has one shape.

One-element lists are sent as bare objects (top level and nested), empty expansions as `""`, ids are
ints in one record and strings in the next, and table extensions are nested name/value lists.
"""

EXPANSION_KEYS = {"demographics", "school_enrollment", "addresses", "phones", "emails", "school_affiliations"}
ID_KEYS = {"id", "local_id", "school_number", "dcid"}


def as_list(value) -> list:
    """PowerSchool sends a one-element list as the element itself, and an empty one as nothing or ""."""
    if value in (None, ""):
        return []
    return value if isinstance(value, list) else [value]


def clean(record: dict) -> dict:
    """One record in one shape: string ids, lists as lists, no `""` expansions, extensions as a mapping."""
    cleaned = {}
    for key, value in record.items():
        if key in EXPANSION_KEYS and value == "":
            continue
        if key == "_extension_data":
            cleaned["extensions"] = {
                table.get("name"): {f.get("name"): f.get("value") for f in as_list(table.get("_field"))}
                for table in as_list((value or {}).get("_table_extension") if isinstance(value, dict) else None)
            } or None
            continue
        if key == "school_affiliations" and isinstance(value, dict):
            value = {"school_affiliation": [clean(item) for item in as_list(value.get("school_affiliation"))]}
        elif isinstance(value, dict):
            value = clean(value)
        elif (key in ID_KEYS or key.endswith("_id")) and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        cleaned[key] = value
    return cleaned
