"""Students and staff as PowerSchool sends them, built from the shared district's people."""

from sis_simulators.hashing import mix64, stream_key
from sis_simulators.powerschool.generated import (
    EXTENSION_DATA,
    GRADE_LEVELS,
    DcidTable,
    dcid,
    person_name,
    school_number,
)

# enroll_status letter -> (enroll_status_code, description), as PowerSchool numbers them.
ENROLL_STATUSES = {
    "A": (0, "Active"),
    "P": (-1, "Pre-registered"),
    "I": (1, "Inactive"),
    "T": (2, "Transferred out"),
    "G": (3, "Graduated"),
    "H": (4, "Historical"),
}
# PowerSchool records M or F; students the district lists as unspecified or other have no demographics.
GENDERS = {"male": "M", "female": "F"}
STUDENT_EXTENSION = "u_studentsuserfields"
_LANGUAGE_PERCENT = (
    ("English", 75), ("Spanish", 16), ("Vietnamese", 2), ("Arabic", 2), ("Mandarin", 2),
    ("Somali", 1), ("Haitian Creole", 1), ("Tagalog", 1),
)
_LANGUAGE_BY_PERCENTILE = tuple(language for language, percent in _LANGUAGE_PERCENT for _ in range(percent))
# school_affiliation codes: type 1 is a teacher, status 1 is active.
TEACHER_TYPE, ACTIVE_STATUS = 1, 1
# Every fourth teacher of a school also teaches at the next school, so staff have one or two schools.
ITINERANT_EVERY = 4


class Students(DcidTable):
    name = table = "students"

    def __init__(self, district):
        super().__init__(district)
        self._language_key = stream_key(district.seed, "powerschool:students:preferred_language")

    def count(self) -> int:
        return self.district.student_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        user = district.students.record(index)
        school = district.school_of_student(index)
        extension = {"preferred_language": _LANGUAGE_BY_PERCENTILE[mix64(self._language_key, index) % 100]}
        if "preferredFirstName" in user:
            extension["preferred_name"] = user["preferredFirstName"]
        record = {
            "id": dcid(self.table, index),
            "local_id": int(user["identifier"]),
            "state_province_id": user["userIds"][0]["identifier"],
            "student_username": user["username"],
            "name": person_name(user),
            "school_enrollment": {
                "enroll_status": "A",
                "enroll_status_code": ENROLL_STATUSES["A"][0],
                "enroll_status_description": ENROLL_STATUSES["A"][1],
                "grade_level": GRADE_LEVELS[user["grades"][0]],
                "entry_date": district.year_start.isoformat(),
                "exit_date": district.year_end.isoformat(),
                "school_id": dcid("schools", school),
                "school_number": school_number(district, school),
            },
            EXTENSION_DATA: {STUDENT_EXTENSION: extension},
        }
        demographics = district.demographics.record(index)
        if demographics["sex"] in GENDERS:
            record["demographics"] = {"gender": GENDERS[demographics["sex"]], "birth_date": demographics["birthDate"]}
        return record

    def positions_at_school(self, school: int) -> range:
        return range(self.district.student_starts[school], self.district.student_starts[school + 1])

    def school_ids(self, record: dict) -> set[int]:
        return {record.get("school_enrollment", {}).get("school_id")}


class Staff(DcidTable):
    name, table = "teachers", "staff"

    def count(self) -> int:
        return self.district.teacher_count

    def second_school(self, index: int) -> int | None:
        district = self.district
        if district.school_count == 1:
            return None
        school = district.school_of_teacher(index)
        local = index - district.teacher_starts[school]
        return (school + 1) % district.school_count if local % ITINERANT_EVERY == ITINERANT_EVERY - 1 else None

    def _fields(self, index: int, version: str) -> dict:
        user = self.district.teachers.record(index)
        schools = [self.district.school_of_teacher(index)]
        if (second := self.second_school(index)) is not None:
            schools.append(second)
        affiliations = [
            {"school_id": dcid("schools", school), "type": TEACHER_TYPE, "status": ACTIVE_STATUS} for school in schools
        ]
        return {
            "id": dcid(self.table, index),
            "local_id": int(user["identifier"].removeprefix("T")),
            "name": person_name(user),
            "emails": {"work_email": user["email"]},
            "school_affiliations": {"school_affiliation": affiliations},
        }

    def positions_at_school(self, school: int) -> list[int]:
        starts, schools = self.district.teacher_starts, self.district.school_count
        home = range(starts[school], starts[school + 1])
        if schools == 1:
            return list(home)
        previous = (school - 1) % schools
        visitors = range(starts[previous] + ITINERANT_EVERY - 1, starts[previous + 1], ITINERANT_EVERY)
        return sorted([*home, *visitors])

    def school_ids(self, record: dict) -> set[int]:
        affiliations = record.get("school_affiliations", {}).get("school_affiliation", [])
        return {affiliation.get("school_id") for affiliation in affiliations}
