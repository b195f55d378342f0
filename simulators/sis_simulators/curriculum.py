"""Courses (twelve per school, from a catalog that fits the school's grades) and their sections."""

from sis_simulators.generated import GeneratedCollection

_ELEMENTARY = (
    ("English Language Arts", "ELA"), ("Reading Intervention", "RDI"), ("Mathematics", "MTH"),
    ("Science", "SCI"), ("Social Studies", "SST"), ("Art", "ART"), ("Music", "MUS"),
    ("Physical Education", "PE"), ("Español", "SPA"), ("Library & Media", "LIB"),
    ("Computer Science", "CS"), ("Social-Emotional Learning", "SEL"),
)
_MIDDLE = (
    ("Language Arts", "LA"), ("Pre-Algebra", "PALG"), ("Math 6", "MTH6"), ("Life Science", "LSCI"),
    ("Earth Science", "ESCI"), ("U.S. History to 1877", "USH1"), ("World Geography", "WGEO"),
    ("Band", "BAND"), ("Choir", "CHOR"), ("Physical Education", "PE"), ("Spanish I", "SPA1"),
    ("Keyboarding & Coding", "CODE"),
)
_HIGH = (
    ("English I", "ENG1"), ("English II", "ENG2"), ("Algebra I", "ALG1"), ("Geometry", "GEOM"),
    ("Biology", "BIO"), ("Chemistry", "CHEM"), ("World History", "WHIS"), ("U.S. History", "USH"),
    ("Spanish II", "SPA2"), ("Français I", "FRE1"), ("AP Computer Science A", "APCSA"),
    ("Health & Wellness", "HLTH"),
)
COURSE_CATALOG = {"elementary": _ELEMENTARY, "middle": _MIDDLE, "high": _HIGH, "k12": _ELEMENTARY[:6] + _HIGH[:6]}
COURSES_PER_SCHOOL = 12


class Courses(GeneratedCollection):
    name, prefix, path, ref_type = "courses", "crs", "courses", "course"

    def count(self) -> int:
        return self.district.school_count * COURSES_PER_SCHOOL

    def catalog_entry(self, index: int) -> tuple[str, str]:
        school, local = divmod(index, COURSES_PER_SCHOOL)
        return COURSE_CATALOG[self.district.school_band(school)][local]

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        school = index // COURSES_PER_SCHOOL
        title, code = self.catalog_entry(index)
        return {
            "title": title,
            "courseCode": code,
            "schoolYear": district.school_years.ref(0, version),
            "org": district.schools.ref(school, version),
            "grades": list(district.school_grades(school)),
        }


class Classes(GeneratedCollection):
    name, prefix, path, ref_type = "classes", "cls", "classes", "class"

    def count(self) -> int:
        return self.district.section_count

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        school, local = district.section_local(index)
        course = district.section_course(index)
        period = district.section_period(index)
        title, code = district.courses.catalog_entry(course)
        return {
            "title": f"{title} (Period {period})",
            "classCode": f"{code}-{local + 1:03d}",
            "classType": "scheduled",
            "location": f"Room {100 + local // 2}",
            "course": district.courses.ref(course, version),
            "school": district.schools.ref(school, version),
            "terms": [district.terms.ref(district.section_term(index), version)],
            "periods": [str(period)],
        }
