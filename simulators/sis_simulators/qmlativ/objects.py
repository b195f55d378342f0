"""Qmlativ Generic API objects over the shared synthetic district: object i is rendered from i alone.

Each object reuses the OneRoster generator's records (names, grades, schedules, dates) and only
renders them in Qmlativ's shape, so one seed describes one district in every dialect. An object's
`name` selects the same random streams as the OneRoster collection holding the same records, so
both simulators agree on when each record last changed.

Records also carry the overlay's keys (`sourcedId`, `status`, and `dateLastModified` as a UTC
instant); the app strips them and renders `ModifiedTime` as the district's wall clock.
"""

from sis_simulators.curriculum import COURSES_PER_SCHOOL
from sis_simulators.enrollments import ENROLLMENTS_PER_STUDENT
from sis_simulators.generated import GeneratedCollection
from sis_simulators.people import decode_person

# The first id of each object; object i has id first + i. Ranges are apart so a client that joins a
# student to a section's id finds nothing instead of the wrong record. Entity 1 is the district.
FIRST_ID = {
    "District/SchoolYear": 1,
    "District/Entity": 2,
    "Scheduling/Course": 1_001,
    "Staff/Staff": 50_001,
    "Scheduling/Section": 200_001,
    "Demographics/Name": 1_000_001,
    "Student/Student": 3_000_001,
    "Enrollment/EntryWithdrawal": 5_000_001,
    "Scheduling/StudentSection": 10_000_001,
}
DISTRICT_ENTITY_ID = 1
OVERLAY_KEYS = ("sourcedId", "status", "dateLastModified")
# OneRoster grades as Qmlativ's CalculatedGrade writes them.
GRADES = {"KG": "K"}
GENDERS = {"female": "F", "male": "M", "other": "X", "unspecified": "U"}


def local_midnight(iso_date: str) -> str:
    """Qmlativ dates are .NET DateTimes: "2026-08-15T00:00:00"."""
    return f"{iso_date}T00:00:00"


class QmlativObject(GeneratedCollection):
    """One Generic API object. Subclasses set `object_path`, `id_field`, `field_names` and `name` (the stream)."""

    object_path: str  # Module/Object, as the URL names it
    id_field: str
    field_names: tuple[str, ...]  # what a record holds, in order; ModifiedTime is rendered last
    prefix = path = ref_type = ""  # Qmlativ records carry no OneRoster ids or hrefs

    def id_of(self, index: int) -> int:
        return FIRST_ID[self.object_path] + index

    def sourced_id(self, index: int) -> str:
        return str(self.id_of(index))

    def index_of(self, key: str) -> int | None:
        if not (key.isascii() and key.isdigit()) or str(int(key)) != key:
            return None
        index = int(key) - FIRST_ID[self.object_path]
        return index if 0 <= index < self._count else None


class Entities(QmlativObject):
    name, object_path, id_field = "schools", "District/Entity", "EntityID"
    field_names = ("EntityID", "Code", "Name")

    def count(self) -> int:
        return self.district.school_count

    def _fields(self, index: int, version: str) -> dict:
        school = self.district.schools.record(index)
        return {"EntityID": self.id_of(index), "Code": school["identifier"], "Name": school["name"]}


class SchoolYears(QmlativObject):
    name, object_path, id_field = "schoolYears", "District/SchoolYear", "SchoolYearID"
    field_names = ("SchoolYearID", "Description", "NumericYear")

    def count(self) -> int:
        return 1

    def _fields(self, index: int, version: str) -> dict:
        year = self.district.school_year
        return {"SchoolYearID": self.id_of(index), "Description": f"{year - 1}-{year}", "NumericYear": year}


class Courses(QmlativObject):
    name, object_path, id_field = "courses", "Scheduling/Course", "CourseID"
    field_names = ("CourseID", "EntityID", "CourseCode", "Description")

    def count(self) -> int:
        return self.district.courses.count()

    def _fields(self, index: int, version: str) -> dict:
        title, code = self.district.courses.catalog_entry(index)
        school = index // COURSES_PER_SCHOOL
        return {"CourseID": self.id_of(index), "EntityID": entity_id(school), "CourseCode": code, "Description": title}


class Sections(QmlativObject):
    name, object_path, id_field = "classes", "Scheduling/Section", "SectionID"
    field_names = ("SectionID", "CourseID", "EntityID", "SchoolYearID", "Code", "StaffIDCurrentStoredPrimary")

    def count(self) -> int:
        return self.district.section_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        school, local = district.section_local(index)
        course = district.section_course(index)
        return {
            "SectionID": self.id_of(index),
            "CourseID": FIRST_ID["Scheduling/Course"] + course,
            "EntityID": entity_id(school),
            "SchoolYearID": FIRST_ID["District/SchoolYear"],
            "Code": f"{district.courses.catalog_entry(course)[1]}-{local + 1:03d}",
            "StaffIDCurrentStoredPrimary": FIRST_ID["Staff/Staff"] + district.section_teacher(index),
        }


class Staff(QmlativObject):
    name, object_path, id_field = "teachers", "Staff/Staff", "StaffID"
    field_names = ("StaffID", "NameID", "StaffNumber")

    def count(self) -> int:
        return self.district.teacher_count

    def _fields(self, index: int, version: str) -> dict:
        teacher = self.district.teachers.record(index, "1.1")
        return {"StaffID": self.id_of(index), "NameID": FIRST_ID["Demographics/Name"] + index, "StaffNumber": teacher["identifier"]}


class Names(QmlativObject):
    """One Name per person: staff first, then students (a person's Name outlives any one role)."""

    name, object_path, id_field = "names", "Demographics/Name", "NameID"
    field_names = ("NameID", "FirstName", "MiddleName", "LastName", "BirthDate", "Gender")

    def count(self) -> int:
        return self.district.teacher_count + self.district.student_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        staff = district.teacher_count
        if index < staff:
            person = district.teachers.record(index, "1.1")
            sex, birth_date = decode_person(district.teachers.entropy(index)).sex, None
        else:
            person = district.students.record(index - staff, "1.1")
            demographics = district.demographics.record(index - staff)
            sex, birth_date = demographics["sex"], local_midnight(demographics["birthDate"])
        return {
            "NameID": self.id_of(index),
            "FirstName": person["givenName"],
            "MiddleName": person.get("middleName"),
            "LastName": person["familyName"],
            "BirthDate": birth_date,
            "Gender": GENDERS[sex],
        }


class Students(QmlativObject):
    name, object_path, id_field = "students", "Student/Student", "StudentID"
    field_names = (
        "StudentID", "NameID", "StudentNumber", "FirstName", "MiddleName", "LastName",
        "CalculatedGrade", "CalculatedStudentStateID",
    )

    def count(self) -> int:
        return self.district.student_count

    def _fields(self, index: int, version: str) -> dict:
        student = self.district.students.record(index, "1.1")
        grade = student["grades"][0]
        return {
            "StudentID": self.id_of(index),
            "NameID": FIRST_ID["Demographics/Name"] + self.district.teacher_count + index,
            "StudentNumber": student["identifier"],
            "FirstName": student["givenName"],
            "MiddleName": student.get("middleName"),
            "LastName": student["familyName"],
            "CalculatedGrade": GRADES.get(grade, grade),
            "CalculatedStudentStateID": student["userIds"][0]["identifier"],
        }


class EntryWithdrawals(QmlativObject):
    """Each student's entry into their school this year; no one has withdrawn yet."""

    name, object_path, id_field = "entryWithdrawals", "Enrollment/EntryWithdrawal", "EntryWithdrawalID"
    field_names = (
        "EntryWithdrawalID", "StudentID", "EntityID", "SchoolYearID", "StartDate", "EndDate", "WithdrawalCodeID", "IsNoShow",
    )

    def count(self) -> int:
        return self.district.student_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        return {
            "EntryWithdrawalID": self.id_of(index),
            "StudentID": FIRST_ID["Student/Student"] + index,
            "EntityID": entity_id(district.school_of_student(index)),
            "SchoolYearID": FIRST_ID["District/SchoolYear"],
            "StartDate": local_midnight(district.year_start.isoformat()),
            "EndDate": None,
            "WithdrawalCodeID": None,
            "IsNoShow": False,
        }


class StudentSections(QmlativObject):
    """Six per student, one per schedule slot: the OneRoster student enrollments, index for index."""

    name, object_path, id_field = "enrollments", "Scheduling/StudentSection", "StudentSectionID"
    field_names = ("StudentSectionID", "StudentID", "SectionID", "StartDate", "EndDate")

    def count(self) -> int:
        return self.district.student_count * ENROLLMENTS_PER_STUDENT

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        student, _, section, begin, end = district.student_enrollment(index)
        return {
            "StudentSectionID": self.id_of(index),
            "StudentID": FIRST_ID["Student/Student"] + student,
            "SectionID": FIRST_ID["Scheduling/Section"] + section,
            "StartDate": local_midnight(begin),
            "EndDate": local_midnight(end),
        }


def entity_id(school: int) -> int:
    return FIRST_ID["District/Entity"] + school


OBJECT_TYPES = (Entities, SchoolYears, Courses, Sections, Staff, Names, Students, EntryWithdrawals, StudentSections)
