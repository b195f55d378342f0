"""A deterministic synthetic school district: layout arithmetic plus its generated collections.

Nothing is materialised. Students fill schools in contiguous blocks, and sections and teachers
follow from each school's size, so every relationship (which school, which sections, which
teacher) is a few integer operations on an index. Only per-school offsets are stored: a few
thousand integers for a million students.
"""

from bisect import bisect_right
from datetime import date
from math import ceil

from sis_simulators.curriculum import COURSES_PER_SCHOOL, Classes, Courses
from sis_simulators.enrollments import ENROLLMENTS_PER_STUDENT, Enrollments
from sis_simulators.generated import GeneratedCollection
from sis_simulators.organisations import Districts, Schools, SchoolYears, Terms
from sis_simulators.people import Demographics, Students, Teachers

STUDENTS_PER_SCHOOL = 600
STUDENTS_PER_SECTION = 25
SECTIONS_PER_TEACHER = 5

GRADES = ("PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")
# Schools cycle elementary, middle, high; a one-school district is a K-12 campus.
GRADE_BANDS = {"elementary": GRADES[:7], "middle": GRADES[7:10], "high": GRADES[10:]}
BAND_CYCLE = ("elementary", "middle", "high")

# REST collections as unions of generated ones: `orgs` is the district org then its schools.
VIEWS = {
    "orgs": ("districts", "schools"),
    "schools": ("schools",),
    "academicSessions": ("schoolYears", "terms"),
    "terms": ("terms",),
    "courses": ("courses",),
    "classes": ("classes",),
    "users": ("students", "teachers"),
    "students": ("students",),
    "teachers": ("teachers",),
    "enrollments": ("enrollments",),
    "demographics": ("demographics",),
}


def _starts(sizes: list[int]) -> list[int]:
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    return starts


class District:
    """`students` students spread over ceil(students / 600) schools, reproducible from `seed`."""

    def __init__(self, students: int, seed: int = 42, school_year: int = 2027):
        if students < 1:
            raise ValueError(f"a district needs at least one student, got {students}")
        self.seed = seed
        self.school_year = school_year
        self.year_start = date(school_year - 1, 8, 15)
        self.year_end = date(school_year, 6, 15)
        semester_break = date(school_year, 1, 15)
        # (begin, exclusive end) of each semester as ISO dates, the form every record needs.
        self.term_bounds = (
            (self.year_start.isoformat(), semester_break.isoformat()),
            (semester_break.isoformat(), self.year_end.isoformat()),
        )

        school_count = max(1, ceil(students / STUDENTS_PER_SCHOOL))
        per_school, larger = divmod(students, school_count)
        school_sizes = [per_school + (k < larger) for k in range(school_count)]
        seats = [n * ENROLLMENTS_PER_STUDENT for n in school_sizes]
        section_sizes = [max(ENROLLMENTS_PER_STUDENT, ceil(n / STUDENTS_PER_SECTION)) for n in seats]
        self.school_count = school_count
        self.student_starts = _starts(school_sizes)
        self.section_starts = _starts(section_sizes)
        self.teacher_starts = _starts([ceil(n / SECTIONS_PER_TEACHER) for n in section_sizes])

        self.districts = Districts(self)
        self.schools = Schools(self)
        self.school_years = SchoolYears(self)
        self.terms = Terms(self)
        self.courses = Courses(self)
        self.classes = Classes(self)
        self.students = Students(self)
        self.teachers = Teachers(self)
        self.enrollments = Enrollments(self)
        self.demographics = Demographics(self)
        self.collections: dict[str, GeneratedCollection] = {
            collection.name: collection
            for collection in (
                self.districts, self.schools, self.school_years, self.terms, self.courses,
                self.classes, self.students, self.teachers, self.enrollments, self.demographics,
            )
        }

    @property
    def student_count(self) -> int:
        return self.student_starts[-1]

    @property
    def section_count(self) -> int:
        return self.section_starts[-1]

    @property
    def teacher_count(self) -> int:
        return self.teacher_starts[-1]

    def school_band(self, school: int) -> str:
        return "k12" if self.school_count == 1 else BAND_CYCLE[school % len(BAND_CYCLE)]

    def school_grades(self, school: int) -> tuple[str, ...]:
        band = self.school_band(school)
        return GRADES if band == "k12" else GRADE_BANDS[band]

    def school_of_student(self, student: int) -> int:
        return bisect_right(self.student_starts, student) - 1

    def school_of_section(self, section: int) -> int:
        return bisect_right(self.section_starts, section) - 1

    def school_of_teacher(self, teacher: int) -> int:
        return bisect_right(self.teacher_starts, teacher) - 1

    def student_section(self, student: int, slot: int) -> tuple[int, int]:
        """(school, section) a student takes in schedule slot 0..5: consecutive, so 6 distinct.

        Consecutive local sections alternate semesters and pair up on a period, so each student
        gets three periods, each with one section per semester, and section sizes stay balanced.
        """
        school = self.school_of_student(student)
        local_student = student - self.student_starts[school]
        sections = self.section_starts[school + 1] - self.section_starts[school]
        return school, self.section_starts[school] + (local_student * ENROLLMENTS_PER_STUDENT + slot) % sections

    def student_enrollment(self, index: int) -> tuple[int, int, int, date, date]:
        """(student, school, section, begin, end) of the index-th student enrollment, as every SIS renders it."""
        student, slot = divmod(index, ENROLLMENTS_PER_STUDENT)
        school, section = self.student_section(student, slot)
        begin, end = self.term_bounds[self.section_term(section)]
        return student, school, section, begin, end

    def section_local(self, section: int) -> tuple[int, int]:
        """(school, index of the section within its school)."""
        school = self.school_of_section(section)
        return school, section - self.section_starts[school]

    def section_teacher(self, section: int) -> int:
        school, local = self.section_local(section)
        return self.teacher_starts[school] + local // SECTIONS_PER_TEACHER

    def section_course(self, section: int) -> int:
        school, local = self.section_local(section)
        return school * COURSES_PER_SCHOOL + (local // 2) % COURSES_PER_SCHOOL

    @staticmethod
    def section_term(section: int) -> int:
        """Index into `terms`: sections alternate semester 1 and 2."""
        return section % 2

    def section_period(self, section: int) -> int:
        return (self.section_local(section)[1] // 2) % 8 + 1
