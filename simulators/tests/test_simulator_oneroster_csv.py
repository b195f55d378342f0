"""The OneRoster CSV package simulator writes what a district's SIS export would, and its dirt is exact.

Everything is read back with the stdlib `csv` module, as a reader of these packages would.
"""

import csv
import io
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from sis_simulators import District, RosterOverlay
from sis_simulators.oneroster_csv import FIX, REJECT_FILE, REJECT_ROW, Dirt, export_csv_package
from sis_simulators.server import main as simulate_main

STUDENTS = 1300
SINCE = "2026-11-01T00:00:00.000Z"
CHANGE_CLOCK = 1_800_000_000.0  # 2027-01-15: every admin change is stamped from here on
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
US_DATE = re.compile(r"^\d{1,2}/\d{2}/\d{4}$")
DATA_KEYS_1_1 = ("academicSessions", "classes", "courses", "demographics", "enrollments", "orgs", "users")
DATA_KEYS_1_2 = ("academicSessions", "classes", "courses", "demographics", "enrollments", "orgs", "roles", "users")

HEADERS = {
    "orgs": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
    "academicSessions": "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
    "courses": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,"
    "subjectCodes",
    "classes": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,"
    "schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
    "enrollments": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,"
    "beginDate,endDate",
    "demographics": "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,"
    "blackOrAfricanAmerican,nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,"
    "hispanicOrLatinoEthnicity,countryOfBirthCode,stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus",
}
USERS_HEADERS = {
    "1.1": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password",
    "1.2": "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,"
    "email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,"
    "preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns",
}
ROLES_HEADER = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId"
)


@pytest.fixture(scope="module")
def district():
    return District(STUDENTS)


def package_files(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {file.name: file.read_bytes() for file in sorted(path.iterdir())}
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def read_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_table(data: bytes) -> list[dict[str, str]]:
    header, *rows = read_rows(data)
    return [dict(zip(header, row, strict=True)) for row in rows]


def manifest(files: dict[str, bytes]) -> dict[str, str]:
    header, *rows = read_rows(files["manifest.csv"])
    assert header == ["propertyName", "value"]
    return dict(rows)


def changed_roster(district: District) -> RosterOverlay:
    roster = RosterOverlay(district, clock=lambda: CHANGE_CLOCK)
    roster.update("users", "stu-0000007", {"givenName": "Zoë-Renée", "familyName": "O'Brien-Nguyễn"})
    roster.mark_tobedeleted("enrollments", "enr-0000010")
    roster.remove("users", "tch-0000001")
    roster.add("users", {
        "sourcedId": "stu-9000001", "enabledUser": "true", "username": "sdangelo", "givenName": "Siobhán",
        "familyName": "D'Angelo",
        "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": "sch-0000001"}}],
    })
    return roster


# --- manifest and headers ---------------------------------------------------------------------


def test_manifest_of_a_1_1_package_lists_every_file_with_its_mode(district, tmp_path):
    info = export_csv_package(district, tmp_path / "p.zip", version="1.1", modes={"demographics": "absent"})
    files = package_files(info.path)

    assert manifest(files) == {
        "manifest.version": "1.0", "oneroster.version": "1.1",
        "file.academicSessions": "bulk", "file.categories": "absent", "file.classes": "bulk",
        "file.classResources": "absent", "file.courses": "bulk", "file.courseResources": "absent",
        "file.demographics": "absent", "file.enrollments": "bulk", "file.lineItems": "absent", "file.orgs": "bulk",
        "file.resources": "absent", "file.results": "absent", "file.users": "bulk",
        "source.systemName": "sis_pipeline OneRoster simulator", "source.systemCode": "sis-sim",
    }
    assert sorted(files) == sorted(["manifest.csv"] + [f"{key}.csv" for key in DATA_KEYS_1_1 if key != "demographics"])
    assert info.modes == {key: "absent" if key == "demographics" else "bulk" for key in DATA_KEYS_1_1}


def test_manifest_of_a_1_2_package_adds_roles_and_the_other_1_2_files_as_absent(district, tmp_path):
    files = package_files(export_csv_package(district, tmp_path / "p.zip", version="1.2").path)
    values = manifest(files)

    assert values["oneroster.version"] == "1.2"
    assert {key.removeprefix("file.") for key, mode in values.items() if mode == "bulk"} == set(DATA_KEYS_1_2)
    for key in ("lineItemLearningObjectiveIds", "lineItemScoreScales", "resultLearningObjectiveIds",
                "resultScoreScales", "scoreScales", "userProfiles", "userResources", "categories", "results"):
        assert values[f"file.{key}"] == "absent"
    assert sorted(files) == sorted(["manifest.csv"] + [f"{key}.csv" for key in DATA_KEYS_1_2])


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_headers_follow_the_spec_order(district, tmp_path, version):
    files = package_files(export_csv_package(district, tmp_path / "p.zip", version=version).path)
    expected = {**HEADERS, "users": USERS_HEADERS[version]}
    if version == "1.2":
        expected["roles"] = ROLES_HEADER

    assert {name: ",".join(read_rows(data)[0]) for name, data in files.items() if name != "manifest.csv"} == {
        f"{key}.csv": header for key, header in expected.items()
    }


# --- bulk content -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_bulk_row_counts_equal_the_district(district, tmp_path, version):
    info = export_csv_package(district, tmp_path / "p.zip", version=version)
    files = package_files(info.path)
    users = district.students.count() + district.teachers.count()
    expected = {
        "orgs": 1 + district.school_count, "academicSessions": 1 + 2, "courses": district.courses.count(),
        "classes": district.section_count, "users": users, "enrollments": district.enrollments.count(),
        "demographics": STUDENTS,
    }
    if version == "1.2":
        expected["roles"] = users

    assert info.row_counts == expected
    files.pop("manifest.csv")
    assert {name.removesuffix(".csv"): len(read_rows(data)) - 1 for name, data in files.items()} == expected


def test_bulk_users_are_the_records_the_rest_simulator_serves(district, tmp_path):
    files = package_files(export_csv_package(district, tmp_path / "p.zip", version="1.1").path)
    users = {row["sourcedId"]: row for row in read_table(files["users.csv"])}

    for collection in (district.students, district.teachers):
        for index in range(collection.count()):
            record = collection.record(index, "1.1")
            row = users[record["sourcedId"]]
            assert (row["givenName"], row["familyName"], row["middleName"]) == (
                record["givenName"], record["familyName"], record.get("middleName", ""),
            )
            assert (row["username"], row["email"], row["identifier"], row["role"]) == (
                record["username"], record["email"], record["identifier"], record["role"],
            )
            assert row["orgSourcedIds"] == record["orgs"][0]["sourcedId"]
            assert row["userIds"] == "{%s:%s}" % (record["userIds"][0]["type"], record["userIds"][0]["identifier"])
            assert row["grades"] == ",".join(record.get("grades", []))
            assert row["enabledUser"] == "true"
    names = {row["familyName"] for row in users.values()}
    assert {"O'Brien", "Nguyễn", "Smith-Jones", "De La Cruz"} <= names


def test_multi_valued_cells_are_quoted_comma_lists(district, tmp_path):
    files = package_files(export_csv_package(district, tmp_path / "p.zip", version="1.2").path)
    courses = files["courses.csv"].decode()

    assert ',"PK,KG,01,02,03,04,05",sch-0000000,' in courses
    assert read_table(files["courses.csv"])[0]["grades"].split(",") == ["PK", "KG", "01", "02", "03", "04", "05"]
    assert read_table(files["roles.csv"])[0] == {
        "sourcedId": "role-stu-0000000-1", "status": "", "dateLastModified": "", "userSourcedId": "stu-0000000",
        "roleType": "primary", "role": "student", "beginDate": "", "endDate": "", "orgSourcedId": "sch-0000000",
        "userProfileSourcedId": "",
    }


# --- bulk and delta ---------------------------------------------------------------------------


def test_bulk_leaves_status_and_date_blank_and_delta_fills_them(district, tmp_path):
    roster = changed_roster(district)
    info = export_csv_package(roster, tmp_path / "p.zip", version="1.2", modes={"users": "delta"}, since=SINCE)
    files = package_files(info.path)

    bulk = read_table(files["enrollments.csv"]) + read_table(files["orgs.csv"])
    assert {(row["status"], row["dateLastModified"]) for row in bulk} == {("", "")}
    delta = read_table(files["users.csv"])
    assert delta and all(row["status"] in ("active", "tobedeleted") for row in delta)
    assert all(TIMESTAMP.match(row["dateLastModified"]) and row["dateLastModified"] >= SINCE for row in delta)
    assert manifest(files)["file.users"] == "delta"


def test_delta_holds_exactly_the_changed_added_and_removed_records(district, tmp_path):
    roster = changed_roster(district)
    modes = dict.fromkeys(DATA_KEYS_1_2, "delta")
    files = package_files(export_csv_package(roster, tmp_path / "p.zip", version="1.2", modes=modes, since=SINCE).path)

    users = {row["sourcedId"]: row for row in read_table(files["users.csv"])}
    assert {sourced_id: row["status"] for sourced_id, row in users.items()} == {
        "stu-0000007": "active", "stu-9000001": "active", "tch-0000001": "tobedeleted",
    }
    assert (users["stu-0000007"]["givenName"], users["stu-0000007"]["familyName"]) == ("Zoë-Renée", "O'Brien-Nguyễn")
    assert users["stu-9000001"]["primaryOrgSourcedId"] == ""
    assert {row["sourcedId"]: row["status"] for row in read_table(files["roles.csv"])} == {
        "role-stu-0000007-1": "active", "role-stu-9000001-1": "active", "role-tch-0000001-1": "tobedeleted",
    }
    assert [(row["sourcedId"], row["status"]) for row in read_table(files["enrollments.csv"])] == [
        ("enr-0000010", "tobedeleted"),
    ]
    for key in ("academicSessions", "classes", "courses", "demographics", "orgs"):
        assert read_table(files[f"{key}.csv"]) == []


def test_bulk_after_changes_drops_removed_and_tobedeleted_records(district, tmp_path):
    roster = changed_roster(district)
    files = package_files(export_csv_package(roster, tmp_path / "p.zip", version="1.1").path)

    user_ids = [row["sourcedId"] for row in read_table(files["users.csv"])]
    assert "tch-0000001" not in user_ids and "stu-9000001" in user_ids
    assert len(user_ids) == district.students.count() + district.teachers.count()  # one removed, one added
    enrollment_ids = {row["sourcedId"] for row in read_table(files["enrollments.csv"])}
    assert "enr-0000010" not in enrollment_ids and len(enrollment_ids) == district.enrollments.count() - 1


def test_removals_carry_no_time_so_every_later_delta_repeats_them(district, tmp_path):
    roster = changed_roster(district)
    later = "2027-06-01T00:00:00.000Z"
    files = package_files(
        export_csv_package(roster, tmp_path / "p.zip", version="1.1", modes={"users": "delta"}, since=later).path
    )

    assert [(row["sourcedId"], row["status"], row["dateLastModified"]) for row in read_table(files["users.csv"])] == [
        ("tch-0000001", "tobedeleted", later),
    ]


def test_invalid_requests_are_refused_with_the_reason(district, tmp_path):
    with pytest.raises(ValueError, match="roles"):
        export_csv_package(district, tmp_path / "a.zip", version="1.1", modes={"roles": "bulk"})
    with pytest.raises(ValueError, match="since"):
        export_csv_package(district, tmp_path / "b.zip", modes={"users": "delta"})
    with pytest.raises(ValueError, match="bulk, delta or absent"):
        export_csv_package(district, tmp_path / "c.zip", modes={"users": "full"})
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        export_csv_package(district, tmp_path / "busy", as_zip=False)


# --- dirt -------------------------------------------------------------------------------------


def clean_and_dirty(district, tmp_path, dirt: Dirt, **options):
    clean = export_csv_package(district, tmp_path / "clean.zip", **options)
    dirty = export_csv_package(district, tmp_path / "dirty.zip", dirt=dirt, **options)
    return package_files(clean.path), package_files(dirty.path), dirty.dirt


def differing_rows(clean: bytes, dirty: bytes) -> dict[str, tuple[list[str], list[str]]]:
    clean_rows, dirty_rows = read_rows(clean)[1:], read_rows(dirty)[1:]
    assert len(clean_rows) == len(dirty_rows)
    return {old[0]: (old, new) for old, new in zip(clean_rows, dirty_rows, strict=True) if old != new}


def test_us_dates_spoil_exactly_the_reported_birth_and_begin_dates(district, tmp_path):
    clean, dirty, reports = clean_and_dirty(district, tmp_path, Dirt(us_dates=4), version="1.1")
    report = reports["us_dates"]

    assert report.action == REJECT_ROW
    assert {name: len(ids) for name, ids in report.rows.items()} == {"demographics.csv": 4, "enrollments.csv": 4}
    for name, column in (("demographics.csv", 3), ("enrollments.csv", 8)):
        changed = differing_rows(clean[name], dirty[name])
        assert set(changed) == set(report.rows[name])
        for old, new in changed.values():
            year, month, day = old[column].split("-")
            assert US_DATE.match(new[column]) and new[column] == f"{int(month)}/{day}/{year}"
            assert new[:column] + new[column + 1:] == old[:column] + old[column + 1:]
    assert {name for name in clean if clean[name] != dirty[name]} == {"demographics.csv", "enrollments.csv"}


def test_orphan_enrollments_name_users_missing_from_users_csv(district, tmp_path):
    clean, dirty, reports = clean_and_dirty(district, tmp_path, Dirt(orphan_enrollments=3), version="1.2")
    report = reports["orphan_enrollments"]
    user_ids = {row["sourcedId"] for row in read_table(dirty["users.csv"])}

    changed = differing_rows(clean["enrollments.csv"], dirty["enrollments.csv"])
    assert set(changed) == set(report.rows["enrollments.csv"]) and len(changed) == 3
    orphans = [new[5] for _, new in changed.values()]
    assert len(set(orphans)) == 3 and not set(orphans) & user_ids
    assert report.action == REJECT_ROW


def test_blank_status_spoils_only_delta_files(district, tmp_path):
    modes = {"users": "delta", "enrollments": "delta"}
    clean = export_csv_package(changed_roster(district), tmp_path / "c.zip", version="1.1", modes=modes, since=SINCE)
    dirty = export_csv_package(
        changed_roster(district), tmp_path / "d.zip", version="1.1", modes=modes, since=SINCE, dirt=Dirt(blank_status=2)
    )
    clean_files, dirty_files = package_files(clean.path), package_files(dirty.path)
    report = dirty.dirt["blank_status"]

    assert report.action == REJECT_ROW
    assert {name: len(ids) for name, ids in report.rows.items()} == {"enrollments.csv": 1, "users.csv": 2}
    for name, ids in report.rows.items():
        changed = differing_rows(clean_files[name], dirty_files[name])
        assert set(changed) == set(ids)
        assert all(old[1] in ("active", "tobedeleted") and new[1] == "" for old, new in changed.values())
    assert {name for name in clean_files if clean_files[name] != dirty_files[name]} == {"users.csv", "enrollments.csv"}


def test_duplicate_rows_repeat_exactly_the_reported_users(district, tmp_path):
    clean, dirty, reports = clean_and_dirty(district, tmp_path, Dirt(duplicate_rows=3), version="1.2")
    report = reports["duplicate_rows"]
    dirty_rows = read_rows(dirty["users.csv"])

    repeated = [row[0] for previous, row in zip(dirty_rows, dirty_rows[1:]) if row == previous]
    assert repeated == list(report.rows["users.csv"]) and len(repeated) == 3
    deduplicated = [row for k, row in enumerate(dirty_rows) if k == 0 or row != dirty_rows[k - 1]]
    assert deduplicated == read_rows(clean["users.csv"])
    assert report.action == FIX


@pytest.mark.parametrize(
    ("kind", "action", "renamed"),
    [
        (
            "header_case", FIX,
            {"users.csv": {"givenname": "givenName"}, "enrollments.csv": {"classSourcedID": "classSourcedId"}},
        ),
        ("header_whitespace", FIX, {"users.csv": {"familyName ": "familyName"}}),
        ("header_misspelled", REJECT_FILE, {"enrollments.csv": {"userSorucedId": "userSourcedId"}}),
    ],
)
def test_header_dirt_renames_exactly_the_reported_headers(district, tmp_path, kind, action, renamed):
    clean, dirty, reports = clean_and_dirty(district, tmp_path, Dirt(**{kind: True}), version="1.2")
    report = reports[kind]

    assert (report.action, report.headers, report.rows) == (action, renamed, {})
    for name in clean:
        clean_header, *clean_body = read_rows(clean[name])
        dirty_header, *dirty_body = read_rows(dirty[name])
        changes = {new: old for old, new in zip(clean_header, dirty_header, strict=True) if old != new}
        assert changes == renamed.get(name, {})
        assert dirty_body == clean_body


def test_bom_and_crlf_change_only_the_bytes_a_reader_fixes_silently(district, tmp_path):
    clean, dirty, reports = clean_and_dirty(district, tmp_path, Dirt(bom=True, crlf=True), version="1.1")

    assert set(dirty) == set(clean)
    for name, data in dirty.items():
        assert data == b"\xef\xbb\xbf" + clean[name].replace(b"\n", b"\r\n")
    assert set(reports["bom"].files) == set(reports["crlf"].files) == set(clean)
    assert reports["bom"].action == reports["crlf"].action == FIX


def test_every_dirt_kind_together_still_reports_each_exactly(district, tmp_path):
    info = export_csv_package(district, tmp_path / "p.zip", version="1.2", dirt=Dirt.everything(rows=5))
    files = package_files(info.path)

    assert set(info.dirt) == {
        "bom", "crlf", "header_case", "header_whitespace", "header_misspelled", "duplicate_rows", "us_dates",
        "blank_status", "orphan_enrollments",
    }
    assert info.dirt["blank_status"].rows == {}  # a bulk-only package has no status to blank
    demographics = {row[0]: row for row in read_rows(files["demographics.csv"])[1:]}
    us_dated = {sourced_id for sourced_id, row in demographics.items() if US_DATE.match(row[3])}
    assert us_dated == set(info.dirt["us_dates"].rows["demographics.csv"])
    assert info.row_counts["users"] == district.students.count() + district.teachers.count() + 5


# --- zip, folder, determinism, memory, CLI ----------------------------------------------------


def test_zip_and_folder_hold_the_same_bytes(district, tmp_path):
    options = {"version": "1.2", "dirt": Dirt.everything(rows=3)}
    zipped = package_files(export_csv_package(district, tmp_path / "p.zip", **options).path)
    folder = package_files(export_csv_package(district, tmp_path / "folder", as_zip=False, **options).path)

    assert zipped == folder


def test_the_same_inputs_give_byte_identical_packages(district, tmp_path):
    options = {"version": "1.1", "dirt": Dirt.everything(rows=3)}
    first = export_csv_package(district, tmp_path / "a.zip", **options)
    second = export_csv_package(District(STUDENTS), tmp_path / "b.zip", **options)
    other_seed = export_csv_package(District(STUDENTS, seed=7), tmp_path / "c.zip", **options)

    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_bytes() != other_seed.path.read_bytes()
    assert first.dirt == second.dirt


def test_memory_stays_flat_as_the_district_grows(tmp_path):
    """Rows stream straight to the zip, so 4x the students costs no more memory.

    Traced at 600 and 2,400 students because tracemalloc slows the export five-fold; untraced,
    200,000 students (1.25 M enrollments) export in about 30 s within a 60 MB process. Keeping even
    one small object per extra enrollment row (11,000 of them) would break the 256 KB margin.
    """
    peaks = []
    for students in (600, 2400):
        tracemalloc.start()
        export_csv_package(District(students), tmp_path / f"{students}.zip", version="1.2")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()

    assert peaks[1] < peaks[0] + 256 * 1024
    assert peaks[1] < 4 * 1024 * 1024


def test_cli_writes_a_folder_package_and_lists_the_dirt(tmp_path, capsys):
    out = tmp_path / "export"
    status = simulate_main(
        ["oneroster-csv", "--students", "600", "--out", str(out), "--version", "1.2", "--folder", "--seed", "3",
         "--dirty"]
    )
    printed = capsys.readouterr().out

    assert status == 0
    assert manifest(package_files(out))["oneroster.version"] == "1.2"
    expected = export_csv_package(
        District(600, seed=3), tmp_path / "same", version="1.2", dirt=Dirt.everything(5), as_zip=False
    )
    assert package_files(out) == package_files(expected.path)
    assert "users.csv bulk" in printed and "dirt us_dates (reject_row)" in printed
    assert " ".join(expected.dirt["orphan_enrollments"].rows["enrollments.csv"]) in printed
