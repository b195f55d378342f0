"""The district org, its schools, and the school year with its two semesters."""

from sis_simulators.generated import GeneratedCollection
from sis_simulators.names import DISTRICT_NAMES, SCHOOL_NAMESAKES

SCHOOL_KINDS = {"elementary": "Elementary School", "middle": "Middle School", "high": "High School", "k12": "K-12 Academy"}


class Districts(GeneratedCollection):
    name, prefix, path, ref_type = "districts", "dst", "orgs", "org"

    def count(self) -> int:
        return 1

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        return {
            "name": DISTRICT_NAMES[self.entropy(index) % len(DISTRICT_NAMES)],
            "type": "district",
            "identifier": f"{self.entropy(index) % 9_000_000 + 1_000_000}",
            "children": [district.schools.ref(school, version) for school in range(district.school_count)],
        }


class Schools(GeneratedCollection):
    name, prefix, path, ref_type = "schools", "sch", "orgs", "org"

    def count(self) -> int:
        return self.district.school_count

    def _fields(self, index: int, version: str) -> dict:
        namesake = SCHOOL_NAMESAKES[index % len(SCHOOL_NAMESAKES)]
        # Big districts reuse namesakes; a campus number keeps every school name unique.
        campus = index // len(SCHOOL_NAMESAKES)
        name = f"{namesake} {SCHOOL_KINDS[self.district.school_band(index)]}" + (f" {campus + 1}" if campus else "")
        return {
            "name": name,
            "type": "school",
            "identifier": f"{101 + index}",
            "parent": self.district.districts.ref(0, version),
        }


class SchoolYears(GeneratedCollection):
    name, prefix, path, ref_type = "schoolYears", "sy", "academicSessions", "academicSession"

    def count(self) -> int:
        return 1

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        return {
            "title": f"{district.school_year - 1}-{district.school_year}",
            "type": "schoolYear",
            "startDate": district.year_start.isoformat(),
            "endDate": district.year_end.isoformat(),
            "schoolYear": str(district.school_year),
            "children": [district.terms.ref(term, version) for term in range(district.terms.count())],
        }


class Terms(GeneratedCollection):
    name, prefix, path, ref_type = "terms", "trm", "academicSessions", "academicSession"

    def count(self) -> int:
        return 2

    def _fields(self, index: int, version: str) -> dict:
        district = self.district
        begin, end = district.term_bounds[index]
        return {
            "title": f"Semester {index + 1} {district.school_year - 1}-{district.school_year}",
            "type": "semester",
            "startDate": begin,
            "endDate": end,
            "schoolYear": str(district.school_year),
            "parent": district.school_years.ref(0, version),
        }
