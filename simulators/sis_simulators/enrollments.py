"""Enrollments: six per student (one per schedule slot), then one primary teacher per section.

Index layout: [0, 6 * students) are student enrollments, student = index // 6 and slot =
index % 6; the rest are teacher enrollments, one per section in section order.
"""

from sis_simulators.generated import GeneratedCollection

ENROLLMENTS_PER_STUDENT = 6


class Enrollments(GeneratedCollection):
    name, prefix, path, ref_type = "enrollments", "enr", "enrollments", "enrollment"

    def count(self) -> int:
        return self.district.student_count * ENROLLMENTS_PER_STUDENT + self.district.section_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        student_enrollments = district.student_count * ENROLLMENTS_PER_STUDENT
        if index < student_enrollments:
            student, slot = divmod(index, ENROLLMENTS_PER_STUDENT)
            school, section = district.student_section(student, slot)
            user, role, primary = district.students.ref(student, version), "student", "false"
        else:
            section = index - student_enrollments
            school = district.school_of_section(section)
            user, role, primary = district.teachers.ref(district.section_teacher(section), version), "teacher", "true"
        begin, end = district.term_bounds[district.section_term(section)]
        return {
            "role": role,
            "primary": primary,
            "user": user,
            "class": district.classes.ref(section, version),
            "school": district.schools.ref(school, version),
            "beginDate": begin,
            "endDate": end,
        }
