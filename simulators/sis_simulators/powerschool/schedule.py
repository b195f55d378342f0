"""Schools, terms, courses, sections and section enrollments (PowerSchool's CC table).

Terms follow PowerSchool's numbering: a school year has a year id (years since 1990-91) and its
terms are numbered year id * 100 + n, the same numbers at every school, so only (school_id, id)
names one term. Term end dates are the last day; enrollment exit dates are the day after.
"""

from datetime import date, timedelta

from sis_simulators.curriculum import COURSES_PER_SCHOOL
from sis_simulators.enrollments import ENROLLMENTS_PER_STUDENT
from sis_simulators.powerschool.generated import (
    FIRST_DCID,
    GRADE_LEVELS,
    DcidTable,
    PowerSchoolTable,
    dcid,
    school_number,
)

FIRST_YEAR_ID_YEAR = 1990
TERMS_PER_SCHOOL = 3  # the year, then its two semesters


def term_id(district, part: int) -> int:
    """Term `part` of the district's year: 0 is the full year, 1 and 2 the semesters."""
    return (district.school_year - 1 - FIRST_YEAR_ID_YEAR) * 100 + part


class Schools(DcidTable):
    name = table = "schools"

    def count(self) -> int:
        return self.district.school_count

    def _fields(self, index: int, version: str) -> dict:
        grades = self.district.school_grades(index)
        return {
            "id": dcid(self.table, index),
            "name": self.district.schools.record(index)["name"],
            "school_number": school_number(self.district, index),
            "low_grade": GRADE_LEVELS[grades[0]],
            "high_grade": GRADE_LEVELS[grades[-1]],
        }


class Terms(PowerSchoolTable):
    """Three terms per school; the overlay key is "<school DCID>:<term id>" since ids repeat."""

    name, table = "powerschool:terms", "terms"

    def count(self) -> int:
        return self.district.school_count * TERMS_PER_SCHOOL

    def sourced_id(self, index: int) -> str:
        school, part = divmod(index, TERMS_PER_SCHOOL)
        return f"{dcid('schools', school)}:{term_id(self.district, part)}"

    def index_of(self, key: str) -> int | None:
        school_key, _, term_key = key.partition(":")
        if not (school_key.isdigit() and term_key.isdigit()):
            return None
        school, part = int(school_key) - FIRST_DCID["schools"], int(term_key) - term_id(self.district, 0)
        if not (0 <= school < self.district.school_count and 0 <= part < TERMS_PER_SCHOOL):
            return None
        index = school * TERMS_PER_SCHOOL + part
        return index if self.sourced_id(index) == key else None

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        school, part = divmod(index, TERMS_PER_SCHOOL)
        year = district.school_year
        if part == 0:
            begin, end = district.year_start.isoformat(), district.year_end.isoformat()
            name, abbreviation, portion = f"{year - 1}-{year}", f"{(year - 1) % 100:02d}-{year % 100:02d}", 1
        else:
            begin, end = district.term_bounds[part - 1]
            name, abbreviation, portion = f"Semester {part}", f"S{part}", 2
        return {
            "id": term_id(district, part),
            "school_id": dcid("schools", school),
            "name": name,
            "abbreviation": abbreviation,
            "start_date": begin,
            "end_date": (date.fromisoformat(end) - timedelta(days=1)).isoformat(),
            "end_year": year,
            "portion": portion,
        }

    def positions_at_school(self, school: int) -> range:
        return range(school * TERMS_PER_SCHOOL, (school + 1) * TERMS_PER_SCHOOL)


class Courses(DcidTable):
    name = table = "courses"

    def count(self) -> int:
        return self.district.courses.count()

    def _fields(self, index: int, version: str) -> dict:
        title, code = self.district.courses.catalog_entry(index)
        number = school_number(self.district, index // COURSES_PER_SCHOOL)
        return {"id": dcid(self.table, index), "course_number": f"{code}-{number}", "course_name": title}

    def positions_at_school(self, school: int) -> range:
        return range(school * COURSES_PER_SCHOOL, (school + 1) * COURSES_PER_SCHOOL)


class Sections(DcidTable):
    name, table = "classes", "sections"

    def count(self) -> int:
        return self.district.section_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        school, local = district.section_local(index)
        period = district.section_period(index)
        return {
            "id": dcid(self.table, index),
            "school_id": dcid("schools", school),
            "course_id": dcid("courses", district.section_course(index)),
            "term_id": term_id(district, district.section_term(index) + 1),
            "section_number": str(local + 1),
            "expression": f"{period}(A)",
            "external_expression": f"P{period}(A)",
            "staff_id": dcid("staff", district.section_teacher(index)),
        }

    def positions_at_school(self, school: int) -> range:
        return range(self.district.section_starts[school], self.district.section_starts[school + 1])

    def school_ids(self, record: dict) -> set[int]:
        return {record.get("school_id")}


class SectionEnrollments(DcidTable):
    """The student enrollments of the shared district (six per student), in the same order."""

    name, table = "enrollments", "section_enrollments"

    def count(self) -> int:
        return self.district.student_count * ENROLLMENTS_PER_STUDENT

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        student, _, section, begin, end = district.student_enrollment(index)
        return {
            "id": dcid(self.table, index),
            "section_id": dcid("sections", section),
            "student_id": dcid("students", student),
            "entry_date": begin,
            "exit_date": end,
            "dropped": False,
        }

    def positions_in_section(self, section: int) -> range:
        """The inverse of District.student_section: every seat j of the school with j % sections == local."""
        district = self.district
        school, local = district.section_local(section)
        sections = district.section_starts[school + 1] - district.section_starts[school]
        first_seat = district.student_starts[school] * ENROLLMENTS_PER_STUDENT
        seats = (district.student_starts[school + 1] - district.student_starts[school]) * ENROLLMENTS_PER_STUDENT
        return range(first_seat + local, first_seat + seats, sections)

    def positions_of_student(self, student: int) -> range:
        return range(student * ENROLLMENTS_PER_STUDENT, (student + 1) * ENROLLMENTS_PER_STUDENT)
