"""Which CSV files a OneRoster package holds, their headers in spec order, and how a REST record fills a row.

Records come from the REST simulator in its JSON shape (refs as `{"sourcedId": ...}`, lists as
lists); the CSV binding flattens them: a ref becomes its sourcedId, a list of refs or strings a
comma list, userIds `{type:identifier}`. Every row starts `sourcedId,status,dateLastModified`;
the package writer fills or blanks the last two by file mode, so the layouts list only the rest.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

Getter = Callable[[dict], str]
LEADING_HEADERS = ("sourcedId", "status", "dateLastModified")

MANIFEST_FILES = {
    "1.1": (
        "academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
        "demographics", "enrollments", "lineItems", "orgs", "resources", "results", "users",
    ),
    "1.2": (
        "academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
        "demographics", "enrollments", "lineItemLearningObjectiveIds", "lineItems", "lineItemScoreScales",
        "orgs", "resources", "resultLearningObjectiveIds", "results", "resultScoreScales", "roles",
        "scoreScales", "userProfiles", "userResources", "users",
    ),
}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # admin changes may carry JSON booleans; CSV wants "true"/"false"
        return "true" if value else "false"
    return str(value)


def text(name: str) -> Getter:
    return lambda record: _cell(record.get(name))


def ref(name: str) -> Getter:
    return lambda record: record[name]["sourcedId"] if record.get(name) else ""


def refs(name: str) -> Getter:
    return lambda record: ",".join(item["sourcedId"] for item in record.get(name) or ())


def values(name: str) -> Getter:
    return lambda record: ",".join(record.get(name) or ())


def user_ids(record: dict) -> str:
    return ",".join(f"{{{item['type']}:{item['identifier']}}}" for item in record.get("userIds") or ())


def _plain(*names: str) -> tuple[tuple[str, Getter], ...]:
    return tuple((name, text(name)) for name in names)


def user_roles(user: dict) -> Iterator[dict]:
    """A 1.2 user's `roles[]` as roles.csv records, one per role, with sourcedIds stable per user."""
    for number, role in enumerate(user.get("roles") or (), start=1):
        yield {
            "sourcedId": f"role-{user['sourcedId']}-{number}",
            "status": user.get("status"),
            "dateLastModified": user.get("dateLastModified"),
            "userSourcedId": user["sourcedId"],
            "roleType": role.get("roleType"),
            "role": role.get("role"),
            "beginDate": role.get("beginDate"),
            "endDate": role.get("endDate"),
            "orgSourcedId": role["org"]["sourcedId"] if role.get("org") else None,
            "userProfileSourcedId": role.get("userProfile"),
        }


@dataclass(frozen=True)
class CsvFile:
    """One data file: the REST collection it is drawn from and its columns after the leading three."""

    key: str  # the manifest's name, e.g. "users" for file.users and users.csv
    collection: str  # the simulator view that supplies its records
    columns: tuple[tuple[str, Getter], ...]
    explode: Callable[[dict], Iterator[dict]] | None = None  # one record -> several rows (roles)

    @property
    def name(self) -> str:
        return f"{self.key}.csv"

    @property
    def headers(self) -> tuple[str, ...]:
        return LEADING_HEADERS + tuple(header for header, _ in self.columns)


_ORGS = CsvFile("orgs", "orgs", (*_plain("name", "type", "identifier"), ("parentSourcedId", ref("parent"))))
_SESSIONS = CsvFile(
    "academicSessions", "academicSessions",
    (
        *_plain("title", "type", "startDate", "endDate"), ("parentSourcedId", ref("parent")),
        ("schoolYear", text("schoolYear")),
    ),
)
_COURSES = CsvFile(
    "courses", "courses",
    (
        ("schoolYearSourcedId", ref("schoolYear")), *_plain("title", "courseCode"), ("grades", values("grades")),
        ("orgSourcedId", ref("org")), ("subjects", values("subjects")), ("subjectCodes", values("subjectCodes")),
    ),
)
_CLASSES = CsvFile(
    "classes", "classes",
    (
        ("title", text("title")), ("grades", values("grades")), ("courseSourcedId", ref("course")),
        *_plain("classCode", "classType", "location"), ("schoolSourcedId", ref("school")),
        ("termSourcedIds", refs("terms")), ("subjects", values("subjects")),
        ("subjectCodes", values("subjectCodes")), ("periods", values("periods")),
    ),
)
_ENROLLMENTS = CsvFile(
    "enrollments", "enrollments",
    (
        ("classSourcedId", ref("class")), ("schoolSourcedId", ref("school")), ("userSourcedId", ref("user")),
        *_plain("role", "primary", "beginDate", "endDate"),
    ),
)
_DEMOGRAPHICS = CsvFile(
    "demographics", "demographics",
    _plain(
        "birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth",
        "publicSchoolResidenceStatus",
    ),
)
_USERS_1_1 = CsvFile(
    "users", "users",
    (
        ("enabledUser", text("enabledUser")), ("orgSourcedIds", refs("orgs")), ("role", text("role")),
        ("username", text("username")), ("userIds", user_ids),
        *_plain("givenName", "familyName", "middleName", "identifier", "email", "sms", "phone"),
        ("agentSourcedIds", refs("agents")), ("grades", values("grades")), ("password", text("password")),
    ),
)
# The 1.2 JSON binding says preferredFirstName/preferredLastName where the CSV says Given/Family.
_USERS_1_2 = CsvFile(
    "users", "users",
    (
        *_plain("enabledUser", "username"), ("userIds", user_ids),
        *_plain("givenName", "familyName", "middleName", "identifier", "email", "sms", "phone"),
        ("agentSourcedIds", refs("agents")), ("grades", values("grades")), ("password", text("password")),
        ("userMasterIdentifier", text("userMasterIdentifier")), ("resourceSourcedIds", refs("resources")),
        ("preferredGivenName", text("preferredFirstName")), ("preferredMiddleName", text("preferredMiddleName")),
        ("preferredFamilyName", text("preferredLastName")), ("primaryOrgSourcedId", ref("primaryOrg")),
        ("pronouns", text("pronouns")),
    ),
)
_ROLES = CsvFile(
    "roles", "users",
    _plain("userSourcedId", "roleType", "role", "beginDate", "endDate", "orgSourcedId", "userProfileSourcedId"),
    explode=user_roles,
)

# In manifest order, which is also the order files are written.
DATA_FILES = {
    "1.1": (_SESSIONS, _CLASSES, _COURSES, _DEMOGRAPHICS, _ENROLLMENTS, _ORGS, _USERS_1_1),
    "1.2": (_SESSIONS, _CLASSES, _COURSES, _DEMOGRAPHICS, _ENROLLMENTS, _ORGS, _ROLES, _USERS_1_2),
}
