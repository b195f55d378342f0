"""The faults an operator switches on to rehearse a bad night, each alone, over real HTTP.

Every fault follows the seeded schedule, so the same requests meet the same faults run after
run; switching it off brings back normal answers; the token endpoint and /admin never meet one.
"""

import json
import re
import threading
import time
from dataclasses import asdict
from email.utils import parsedate_to_datetime

import httpx
import pytest

from sis_simulators import SimulatorProcess, SimulatorServer, SimulatorSettings
from sis_simulators.faults import FaultSettings

STUDENTS = 60
PAGE = {"limit": 5}
NO_FAULTS = asdict(FaultSettings())
SLOW_SECONDS = 0.25
HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
# setting -> (what a client sees, the counter under /admin/stats "faults")
RATE_FAULTS = {
    "server_error_rate": ("server_error", "server_errors"),
    "connection_reset_rate": ("connection_reset", "connection_resets"),
    "truncated_page_rate": ("truncated_page", "truncated_pages"),
    "slow_page_rate": ("slow_page", "slow_pages"),
}


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(STUDENTS) as running:
        yield running


@pytest.fixture
def sim(server):
    """The shared server, back to default settings (no faults) and zeroed counters after each test."""
    yield server
    server.update_settings(paging_headers="all", default_limit=100, max_limit=10_000, token_ttl=3600, faults=NO_FAULTS)
    server.reset()


@pytest.fixture
def client(sim):
    with authorised_client(sim) as authorised:
        yield authorised


def new_token(sim) -> str:
    response = token_response(sim)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def token_response(sim) -> httpx.Response:
    return httpx.post(sim.token_url, data={"grant_type": "client_credentials"}, auth=(sim.client_id, sim.client_secret))


def authorised_client(sim, token: str | None = None, timeout=10.0) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {token or new_token(sim)}"}, timeout=timeout)


def students_url(sim) -> str:
    return f"{sim.oneroster_root()}/students"


def student_url(sim, index: int) -> str:
    return f"{sim.oneroster_root()}/users/stu-{index:07d}"


def imsx_code_minor(response: httpx.Response) -> str:
    return response.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]


def fault_counts(sim) -> dict:
    return sim.stats()["faults"]


def outcome(client: httpx.Client, url: str, params=None, slow_after: float | None = None) -> str:
    """What one request met, as a client sees it; a slow page only when slowness is under test."""
    started = time.perf_counter()
    try:
        response = client.get(url, params=params)
    except httpx.ReadError:
        return "connection_reset"
    elapsed = time.perf_counter() - started
    if response.status_code >= 500:
        assert response.status_code in (500, 502, 503) and imsx_code_minor(response) == "server_busy"
        return "server_error"
    assert response.status_code == 200, response.text
    try:
        json.loads(response.content)
    except json.JSONDecodeError:
        return "truncated_page"
    return "slow_page" if slow_after is not None and elapsed >= slow_after else "ok"


def list_outcomes(client: httpx.Client, sim, count: int, slow_after: float | None = None) -> list[str]:
    return [outcome(client, students_url(sim), PAGE, slow_after) for _ in range(count)]


def assert_only_api_requests_meet_faults(sim):
    assert token_response(sim).status_code == 200
    assert httpx.get(f"{sim.base_url}/admin/totals").json()["students"] == STUDENTS


# --- Defaults and the admin API --------------------------------------------------------------


def test_defaults_inject_nothing_and_stats_count_api_requests_only(sim, client):
    assert httpx.get(f"{sim.base_url}/admin/settings").json()["faults"] == {
        "server_error_rate": 0.0, "throttle_burst_every": 0, "throttle_burst_length": 3,
        "retry_after_seconds": 1.0, "retry_after_style": "seconds", "revoke_tokens_after": 0,
        "expire_tokens_every": 0, "connection_reset_rate": 0.0, "truncated_page_rate": 0.0,
        "slow_page_rate": 0.0, "slow_page_seconds": 5.0, "strict_requests_per_minute": 0,
        "token_refusals": 0, "token_refusal_status": 503, "fault_seed": 7,
    }
    before = time.time()
    assert list_outcomes(client, sim, 4) == ["ok"] * 4
    assert outcome(client, student_url(sim, 3)) == "ok"
    assert_only_api_requests_meet_faults(sim)
    after = time.time()

    counts = fault_counts(sim)
    requests = counts.pop("api_requests")
    assert counts.pop("token_requests")["count"] == 2  # the client's token and the check's
    assert counts == dict.fromkeys((
        "server_errors", "throttled", "token_revocations", "tokens_expired",
        "connection_resets", "truncated_pages", "slow_pages", "rate_limit_violations", "token_refusals",
    ), 0)
    assert requests["count"] == 5
    assert before <= requests["first_at"] < requests["last_at"] <= after


def test_fault_settings_change_in_part_and_bad_ones_change_nothing(sim):
    sim.update_settings(faults={"server_error_rate": 0.25})
    faults = sim.update_settings(faults={"slow_page_rate": 0.5})["faults"]
    assert (faults["server_error_rate"], faults["slow_page_rate"]) == (0.25, 0.5)

    settings_url = f"{sim.base_url}/admin/settings"
    for refused in (
        {"faults": {"server_error_rate": 1.5}},
        {"faults": {"throttle_burst_every": 2}},  # not longer than the default burst of 3
        {"faults": {"retry_after_style": "minutes"}},
        {"faults": {"token_refusal_status": 404}},
        {"faults": {"token_refusals": -1}},
        {"faults": {"no_such_fault": 1}},
        {"faults": 0.5},
        {"paging_headers": "none", "faults": {"slow_page_rate": -1}},
    ):
        answer = httpx.post(settings_url, json=refused)
        assert answer.status_code == 400 and "faults" in answer.json()["error"]
    settings = httpx.get(settings_url).json()
    assert settings["paging_headers"] == "all" and settings["faults"] == faults


def test_reset_zeroes_the_fault_counters_but_keeps_the_faults(sim, client):
    sim.update_settings(faults={"server_error_rate": 1.0})
    first = list_outcomes(client, sim, 3)
    assert first == ["server_error"] * 3 and fault_counts(sim)["server_errors"] == 3

    sim.reset()
    counts = fault_counts(sim)
    assert counts.pop("api_requests") == {"count": 0, "first_at": None, "last_at": None}
    assert counts.pop("token_requests") == {"count": 0, "first_at": None, "last_at": None}
    assert set(counts.values()) == {0}
    assert list_outcomes(client, sim, 1) == ["server_error"]
    assert fault_counts(sim)["server_errors"] == 1


# --- Faults at a rate: 5xx, connection resets, truncated pages, slow pages ----------------------


@pytest.mark.parametrize("setting", RATE_FAULTS)
def test_a_rate_fault_meets_its_share_of_api_requests_the_same_way_each_run(sim, client, setting):
    seen, counter = RATE_FAULTS[setting]
    slow_after = SLOW_SECONDS if setting == "slow_page_rate" else None
    sim.update_settings(faults={setting: 0.4, "slow_page_seconds": SLOW_SECONDS})
    first = list_outcomes(client, sim, 10, slow_after)
    assert set(first) == {"ok", seen}
    assert 2 <= first.count(seen) <= 7
    assert fault_counts(sim)[counter] == first.count(seen)

    sim.reset()
    assert list_outcomes(client, sim, 10, slow_after) == first
    sim.update_settings(faults={"fault_seed": 8})
    assert list_outcomes(client, sim, 10, slow_after) != first

    sim.update_settings(faults={setting: 1.0})
    assert list_outcomes(client, sim, 2, slow_after) == [seen] * 2
    assert_only_api_requests_meet_faults(sim)

    sim.update_settings(faults={setting: 0.0})
    assert list_outcomes(client, sim, 8, slow_after) == ["ok"] * 8


def test_server_errors_are_500_502_or_503_chosen_by_the_seed(sim, client):
    sim.update_settings(faults={"server_error_rate": 1.0})
    answers = [client.get(student_url(sim, index)) for index in range(12)]
    assert {answer.status_code for answer in answers} == {500, 502, 503}
    assert {imsx_code_minor(answer) for answer in answers} == {"server_busy"}


def test_a_connection_reset_is_a_read_error_for_httpx_and_the_client_recovers(sim, client):
    sim.update_settings(faults={"connection_reset_rate": 1.0})
    with pytest.raises(httpx.ReadError, match="reset"):
        client.get(student_url(sim, 0))
    sim.update_settings(faults={"connection_reset_rate": 0.0})
    assert client.get(student_url(sim, 0)).json()["user"]["sourcedId"] == "stu-0000000"
    assert fault_counts(sim)["connection_resets"] == 1


def test_a_truncated_page_is_200_with_a_matching_content_length_and_half_the_body(sim, client):
    sim.update_settings(faults={"truncated_page_rate": 1.0})
    cut = client.get(students_url(sim), params=PAGE)
    single_record = client.get(student_url(sim, 0))
    sim.update_settings(faults={"truncated_page_rate": 0.0})
    whole = client.get(students_url(sim), params=PAGE)

    assert cut.status_code == 200 and int(cut.headers["content-length"]) == len(cut.content)
    assert cut.headers["x-total-count"] == str(STUDENTS)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert cut.content == whole.content[: len(whole.content) // 2]
    assert single_record.json()["user"]["sourcedId"] == "stu-0000000"  # only list pages are cut
    assert fault_counts(sim)["truncated_pages"] == 1


def test_a_slow_page_outlasts_a_half_second_read_timeout_while_other_requests_flow(sim, client):
    slow_seconds = 1.0
    sim.update_settings(faults={"slow_page_rate": 1.0, "slow_page_seconds": slow_seconds})
    raised = []

    def fetch_slowly():
        with authorised_client(sim, timeout=httpx.Timeout(10.0, read=0.5)) as impatient:
            try:
                impatient.get(students_url(sim), params=PAGE)
            except httpx.TimeoutException as error:
                raised.append(error)

    started = time.perf_counter()
    slow = threading.Thread(target=fetch_slowly)
    slow.start()
    while fault_counts(sim)["slow_pages"] == 0:
        time.sleep(0.01)
    sim.update_settings(faults={"slow_page_rate": 0.0})
    quick = client.get(student_url(sim, 1))
    answered_quickly_at = time.perf_counter() - started
    slow.join()

    assert quick.status_code == 200 and answered_quickly_at < 0.5
    assert len(raised) == 1 and isinstance(raised[0], httpx.ReadTimeout)
    assert fault_counts(sim)["slow_pages"] == 1
    # Let the slow page finish on the server, so it cannot count towards the next test's faults.
    time.sleep(max(0.0, slow_seconds + 0.2 - (time.perf_counter() - started)))


# --- Throttling: bursts and a strict limit ----------------------------------------------------


def test_throttle_bursts_answer_429_from_every_nth_api_request_with_retry_after_in_seconds(sim, client):
    sim.update_settings(faults={"throttle_burst_every": 5, "throttle_burst_length": 2, "retry_after_seconds": 2.5})
    answers = []
    for _ in range(17):
        answers.append(client.get(students_url(sim), params=PAGE))
        assert_only_api_requests_meet_faults(sim)  # neither counted nor refused
    throttled = [position for position, answer in enumerate(answers, start=1) if answer.status_code == 429]

    assert throttled == [5, 6, 10, 11, 15, 16]
    assert {answers[position - 1].headers["retry-after"] for position in throttled} == {"3"}  # rounded up
    assert {imsx_code_minor(answers[position - 1]) for position in throttled} == {"server_busy"}
    assert fault_counts(sim)["throttled"] == 6

    sim.update_settings(faults={"throttle_burst_every": 0})
    assert list_outcomes(client, sim, 8) == ["ok"] * 8


def test_throttle_bursts_can_send_retry_after_as_an_http_date(sim, client):
    sim.update_settings(
        faults={"throttle_burst_every": 2, "throttle_burst_length": 1, "retry_after_style": "http_date"}
    )
    assert client.get(students_url(sim), params=PAGE).status_code == 200
    throttled = client.get(students_url(sim), params=PAGE)
    asked_at = time.time()

    assert throttled.status_code == 429
    retry_after = throttled.headers["retry-after"]
    assert HTTP_DATE.match(retry_after), retry_after
    assert 0.5 <= parsedate_to_datetime(retry_after).timestamp() - asked_at <= 2.5
    assert client.get(students_url(sim), params=PAGE).status_code == 200


def test_a_strict_limit_refuses_what_goes_beyond_it_in_a_sliding_minute(sim, client):
    sim.update_settings(faults={"strict_requests_per_minute": 60})
    answers = [client.get(student_url(sim, index % STUDENTS)) for index in range(65)]
    assert_only_api_requests_meet_faults(sim)

    assert [answer.status_code for answer in answers] == [200] * 60 + [429] * 5
    assert all(55 <= int(answer.headers["retry-after"]) <= 60 for answer in answers[60:])
    counts = fault_counts(sim)
    assert counts["rate_limit_violations"] == 5 and counts["throttled"] == 0
    requests = counts["api_requests"]
    achieved_per_minute = (requests["count"] - 1) / (requests["last_at"] - requests["first_at"]) * 60
    assert requests["count"] == 65 and achieved_per_minute > 60

    sim.update_settings(faults={"strict_requests_per_minute": 0})
    assert client.get(student_url(sim, 0)).status_code == 200


# --- Tokens: revoked once, worn out after N requests ------------------------------------------


def test_every_token_is_revoked_once_after_n_successful_api_requests(sim, client):
    sim.update_settings(faults={"revoke_tokens_after": 3})
    other_token = new_token(sim)
    assert client.get(student_url(sim, 9_999_999)).status_code == 404  # not a success: not counted
    assert [client.get(student_url(sim, index)).status_code for index in range(3)] == [200] * 3

    for token in (client.headers["authorization"].removeprefix("Bearer "), other_token):
        with authorised_client(sim, token) as revoked:
            refused = revoked.get(students_url(sim), params=PAGE)
            assert refused.status_code == 401 and imsx_code_minor(refused) == "unauthorisedrequest"
    with authorised_client(sim) as renewed:
        assert list_outcomes(renewed, sim, 10) == ["ok"] * 10  # once, not every 3 requests
    assert fault_counts(sim)["token_revocations"] == 1


def test_each_token_expires_after_n_api_requests_even_between_pages(sim, client):
    sim.update_settings(faults={"expire_tokens_every": 4})
    pages = [client.get(students_url(sim), params={"limit": 5, "offset": offset}) for offset in range(0, 25, 5)]
    assert [page.status_code for page in pages] == [200] * 4 + [401]
    assert imsx_code_minor(pages[4]) == "unauthorisedrequest"
    assert 'error="invalid_token"' in pages[4].headers["www-authenticate"]

    with authorised_client(sim) as renewed:
        resumed = [renewed.get(students_url(sim), params={"limit": 5, "offset": offset}) for offset in range(20, 45, 5)]
    assert [page.status_code for page in resumed] == [200] * 4 + [401]
    assert fault_counts(sim)["tokens_expired"] == 2

    sim.update_settings(faults={"expire_tokens_every": 0})
    with authorised_client(sim) as unlimited:
        assert list_outcomes(unlimited, sim, 10) == ["ok"] * 10


# --- The token endpoint: refused N times, then open ---------------------------------------------


def test_token_refusals_answer_the_next_n_token_requests_503_then_issue_tokens(sim):
    sim.update_settings(faults={"token_refusals": 2})
    answers = [token_response(sim) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [503, 503, 200]
    assert answers[0].json()["error"] == "temporarily_unavailable"
    assert "retry-after" not in answers[0].headers
    counts = fault_counts(sim)
    assert counts["token_refusals"] == 2 and counts["token_requests"]["count"] == 3
    assert counts["api_requests"]["count"] == 0  # the API requests' schedule is untouched
    with authorised_client(sim, answers[2].json()["access_token"]) as issued:
        assert list_outcomes(issued, sim, 2) == ["ok"] * 2


def test_a_token_refusal_can_be_429_with_the_bursts_retry_after(sim):
    sim.update_settings(faults={"token_refusals": 1, "token_refusal_status": 429, "retry_after_seconds": 2})
    throttled, issued = token_response(sim), token_response(sim)
    assert (throttled.status_code, throttled.headers["retry-after"], issued.status_code) == (429, "2", 200)
    stats = fault_counts(sim)["token_requests"]
    assert stats["count"] == 2 and stats["first_at"] <= stats["last_at"]


def test_token_refusals_start_again_when_the_faults_change_or_the_simulator_resets(sim):
    sim.update_settings(faults={"token_refusals": 1})
    assert [token_response(sim).status_code for _ in range(2)] == [503, 200]
    sim.reset()
    assert [token_response(sim).status_code for _ in range(2)] == [503, 200]
    sim.update_settings(faults={"token_refusal_status": 502})
    assert [token_response(sim).status_code for _ in range(2)] == [502, 200]
    sim.update_settings(faults={"token_refusals": 0})
    assert token_response(sim).status_code == 200


# --- Schedule and command line ----------------------------------------------------------------


def test_changing_other_settings_keeps_the_fault_schedule_running(sim, client):
    sim.update_settings(faults={"throttle_burst_every": 3, "throttle_burst_length": 1})
    assert [client.get(students_url(sim), params=PAGE).status_code for _ in range(2)] == [200, 200]
    sim.update_settings(default_limit=7)
    assert client.get(students_url(sim)).status_code == 429


def test_a_simulator_process_takes_its_faults_from_the_command_line():
    faults = FaultSettings(
        throttle_burst_every=2, throttle_burst_length=1, retry_after_seconds=4.0, slow_page_seconds=0.25
    )
    with SimulatorProcess(50, settings=SimulatorSettings(faults=faults)) as child:
        assert httpx.get(f"{child.base_url}/admin/settings").json()["faults"] == asdict(faults)
        with authorised_client(child) as child_client:
            answers = [child_client.get(f"{child.oneroster_root()}/students", params=PAGE) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 429, 200, 429]
        assert answers[1].headers["retry-after"] == "4"
