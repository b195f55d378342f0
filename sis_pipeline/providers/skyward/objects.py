"""The Qmlativ objects a Skyward integration reads, and the fields read from each: what the client asks
for and what the normaliser reads.

Raw collections are named after the OneRoster collection each stands for (`classes` holds
`Scheduling/Section`), so a Skyward integration stages the same collection names whichever API it
reads.
"""

import pyarrow as pa

INT, TEXT, FLAG = pa.int64(), pa.string(), pa.bool_()
MODIFIED = {"ModifiedTime": TEXT}
# raw collection -> the Qmlativ objects it holds, in order, each with the fields read from it
# (the client asks for these, and any `extra_fields`, with `searchFields`).
COLLECTIONS: dict[str, dict[str, dict[str, pa.DataType]]] = {
    "schools": {"District/Entity": {"EntityID": INT, "Code": TEXT, "Name": TEXT, **MODIFIED}},
    "academicSessions": {"District/SchoolYear": {"SchoolYearID": INT, "Description": TEXT, "NumericYear": INT, **MODIFIED}},
    "courses": {"Scheduling/Course": {"CourseID": INT, "EntityID": INT, "CourseCode": TEXT, "Description": TEXT, **MODIFIED}},
    "classes": {
        "Scheduling/Section": {
            "SectionID": INT, "CourseID": INT, "EntityID": INT, "SchoolYearID": INT, "Code": TEXT,
            "StaffIDCurrentStoredPrimary": INT, **MODIFIED,
        }
    },
    "students": {
        "Student/Student": {
            "StudentID": INT, "NameID": INT, "StudentNumber": TEXT, "FirstName": TEXT, "MiddleName": TEXT,
            "LastName": TEXT, "CalculatedGrade": TEXT, "CalculatedStudentStateID": TEXT, **MODIFIED,
        }
    },
    "demographics": {
        "Demographics/Name": {
            "NameID": INT, "FirstName": TEXT, "MiddleName": TEXT, "LastName": TEXT, "BirthDate": TEXT, "Gender": TEXT, **MODIFIED,
        }
    },
    "entryWithdrawals": {
        "Enrollment/EntryWithdrawal": {
            "EntryWithdrawalID": INT, "StudentID": INT, "EntityID": INT, "StartDate": TEXT, "IsNoShow": FLAG, **MODIFIED,
        }
    },
    "teachers": {"Staff/Staff": {"StaffID": INT, "NameID": INT, "StaffNumber": TEXT, **MODIFIED}},
    # Student enrollments, then each section's teacher of record as one more enrollment.
    "enrollments": {
        "Scheduling/StudentSection": {
            "StudentSectionID": INT, "StudentID": INT, "SectionID": INT, "StartDate": TEXT, "EndDate": TEXT, **MODIFIED,
        },
        "Scheduling/Section": {"SectionID": INT, "EntityID": INT, "StaffIDCurrentStoredPrimary": INT, **MODIFIED},
    },
}
# canonical entity -> the raw collection holding its own records
ENTITY_COLLECTIONS = {
    "schools": "schools",
    "terms": "academicSessions",
    "courses": "courses",
    "sections": "classes",
    "students": "students",
    "teachers": "teachers",
    "enrollments": "enrollments",
}
