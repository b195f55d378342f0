"""Students, teachers and student demographics.

Everything about a student (sex, names, grade) is decoded from one 64-bit hash of its index, so
the user record and its demographics record agree without either being stored.
"""

from datetime import date, timedelta
from typing import NamedTuple

from sis_simulators.generated import GeneratedCollection
from sis_simulators.names import FAMILY, GIVEN_BY_SEX, NEUTRAL, PoolName, pick

EMAIL_DOMAIN = "sim-district.example"
_STATE_ID_SPACE = 10**10
# Odd and not a multiple of 5, so index -> state id is a bijection on ten-digit numbers: unique ids.
_STATE_ID_STRIDE = 7_919_321
RACE_FIELDS = (
    "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
)
# Percent of students per race flag, roughly a US public-school mix.
_RACE_PERCENT = (2, 7, 17, 1, 67, 6)
_RACE_BY_PERCENTILE = tuple(race for race, percent in zip(RACE_FIELDS, _RACE_PERCENT, strict=True) for _ in range(percent))
_HISPANIC_PERCENT = 28
_EARLY_GRADES = {"PK": -1, "KG": 0}


def _sex(roll: int) -> str:
    if roll < 124:
        return "female"
    if roll < 248:
        return "male"
    return "unspecified" if roll < 253 else "other"


class Person(NamedTuple):
    sex: str
    given: PoolName
    middle: PoolName | None
    family: PoolName
    preferred: PoolName | None
    grade_roll: int


def decode_person(entropy: int) -> Person:
    """Split one hash into independent choices (bit fields) so names and sex stay consistent."""
    sex = _sex(entropy & 0xFF)
    given_pool = GIVEN_BY_SEX[sex]
    return Person(
        sex=sex,
        given=pick(given_pool, entropy >> 8 & 0xFFF),
        middle=pick(given_pool, entropy >> 22 & 0xFFF) if entropy >> 20 & 3 else None,
        family=pick(FAMILY, entropy >> 34 & 0xFFFF),
        preferred=pick(NEUTRAL, entropy >> 8 & 0xFFF) if entropy >> 60 == 0 else None,
        grade_roll=entropy >> 50 & 0x3FF,
    )


def _user_fields(person: Person, version: str, role: str, school_ref: dict, username: str, user_id: dict) -> dict:
    """The fields students and teachers share, in the version's shape, empty ones omitted."""
    fields = {
        "enabledUser": "true",
        "username": username,
        "userIds": [user_id],
        "givenName": person.given.display,
        "familyName": person.family.display,
    }
    if person.middle:
        fields["middleName"] = person.middle.display
    if version == "1.1":
        fields["role"] = role
        fields["orgs"] = [school_ref]
    else:
        if person.preferred:
            fields["preferredFirstName"] = person.preferred.display
        fields["roles"] = [{"roleType": "primary", "role": role, "org": school_ref}]
        fields["primaryOrg"] = school_ref
    return fields


class Students(GeneratedCollection):
    name, prefix, path, ref_type = "students", "stu", "users", "user"

    def count(self) -> int:
        return self.district.student_count

    def grade(self, school: int, person: Person) -> str:
        grades = self.district.school_grades(school)
        return grades[person.grade_roll % len(grades)]

    def _fields(self, index: int, version: str) -> dict:
        person = decode_person(self.entropy(index))
        school = self.district.school_of_student(index)
        username = f"{person.given.slug[0]}{person.family.slug}{index}"
        state_id = (index * _STATE_ID_STRIDE + self._key) % _STATE_ID_SPACE
        user_id = {"type": "stateId", "identifier": f"{state_id:010d}"}
        fields = _user_fields(person, version, "student", self.district.schools.ref(school, version), username, user_id)
        fields["identifier"] = f"{10_000_000 + index}"
        fields["email"] = f"{username}@students.{EMAIL_DOMAIN}"
        fields["grades"] = [self.grade(school, person)]
        return fields


class Teachers(GeneratedCollection):
    name, prefix, path, ref_type = "teachers", "tch", "users", "user"

    def count(self) -> int:
        return self.district.teacher_count

    def _fields(self, index: int, version: str) -> dict:
        person = decode_person(self.entropy(index))
        school = self.district.school_of_teacher(index)
        username = f"{person.given.slug}.{person.family.slug}{index}"
        user_id = {"type": "employeeId", "identifier": f"E{500_000 + index}"}
        fields = _user_fields(person, version, "teacher", self.district.schools.ref(school, version), username, user_id)
        fields["identifier"] = f"T{100_000 + index}"
        fields["email"] = f"{username}@{EMAIL_DOMAIN}"
        return fields


class Demographics(GeneratedCollection):
    """One record per student, sharing the student's sourcedId as OneRoster requires."""

    name, prefix, path, ref_type = "demographics", "stu", "demographics", "demographics"

    def count(self) -> int:
        return self.district.student_count

    def birth_date(self, grade: str, entropy: int) -> date:
        """Old enough for the grade on 1 September: kindergarteners are five on that day."""
        grade_number = _EARLY_GRADES[grade] if grade in _EARLY_GRADES else int(grade)
        cohort_start = date(self.district.year_start.year - 6 - grade_number, 9, 2)
        return cohort_start + timedelta(days=entropy % 365)

    def _fields(self, index: int, version: str) -> dict:
        students = self.district.students
        person = decode_person(students.entropy(index))
        entropy = self.entropy(index)
        race = _RACE_BY_PERCENTILE[(entropy >> 9) % 100]
        grade = students.grade(self.district.school_of_student(index), person)
        fields = {"birthDate": self.birth_date(grade, entropy).isoformat(), "sex": person.sex}
        fields.update((flag, "true" if flag == race else "false") for flag in RACE_FIELDS)
        fields["hispanicOrLatinoEthnicity"] = "true" if (entropy >> 20) % 100 < _HISPANIC_PERCENT else "false"
        return fields
