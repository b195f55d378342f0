"""Paging strategies over responses as SISs send them, and the one page loop that follows them."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sis_pipeline.errors import DataError
from sis_pipeline.providers.common.http import ApiClient
from sis_pipeline.providers.common.paging import (
    FallbackPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    Page,
    PageNumberPaginator,
    PageRequest,
    ShortPagePaginator,
    TotalCountPaginator,
    follow_pages,
)

STUDENTS = "https://sis.example.org/ims/oneroster/v1p1/students"
ONEROSTER = FallbackPaginator(LinkHeaderPaginator(), TotalCountPaginator(), ShortPagePaginator())


def page(records: list[dict], *, url: str = STUDENTS, headers: dict | None = None, body=None, served: int | None = None) -> Page:
    response = httpx.Response(200, headers=headers or {}, json=body or {}, request=httpx.Request("GET", url))
    return Page(response, body, records, len(records) if served is None else served)


def records(count: int) -> list[dict]:
    return [{"sourcedId": str(i)} for i in range(count)]


def offset_request(offset: int = 0, limit: int = 2) -> PageRequest:
    return PageRequest("students", {"limit": limit, "offset": offset, "filter": "dateLastModified>='2026-01-01'"})


# --- One strategy at a time --------------------------------------------------------------------


def test_link_header_is_followed_from_the_responses_url_with_every_parameter_in_the_link():
    served = page(records(2), headers={"Link": '</ims/oneroster/v1p1/students?limit=2&offset=2>; rel="next"'})
    following = LinkHeaderPaginator().next(offset_request(), served)
    assert (following.url, following.params) == (f"{STUDENTS}?limit=2&offset=2", None)
    assert LinkHeaderPaginator().next(following, page(records(1))) is None


def test_total_count_advances_the_offset_until_the_stated_total():
    request = offset_request(offset=2)
    assert TotalCountPaginator().next(request, page(records(2), headers={"X-Total-Count": "5"})).params == {
        "limit": 2, "offset": 4, "filter": "dateLastModified>='2026-01-01'"
    }
    assert TotalCountPaginator().next(request, page(records(2), headers={"X-Total-Count": "4"})) is None


def test_total_count_stops_on_an_empty_page_whatever_the_count_says():
    assert TotalCountPaginator().next(offset_request(offset=2), page([], headers={"X-Total-Count": "9"})) is None


def test_total_count_decides_only_when_the_header_is_a_number():
    assert TotalCountPaginator().decides(page(records(2), headers={"X-Total-Count": " 12 "}))
    assert not TotalCountPaginator().decides(page(records(2), headers={"X-Total-Count": "many"}))
    assert not TotalCountPaginator().decides(page(records(2)))


def test_short_page_ends_offset_paging_and_a_full_one_asks_for_more():
    full = ShortPagePaginator().next(offset_request(offset=4), page(records(2), url=f"{STUDENTS}?limit=2&offset=4"))
    assert (full.url, full.params["offset"]) == (STUDENTS, 6)
    assert ShortPagePaginator().next(offset_request(offset=4), page(records(1))) is None


def test_page_numbers_go_on_until_the_announced_total_even_when_every_page_is_full():
    params = {"expansions": "demographics", "page": 2, "pagesize": 3}
    following = PageNumberPaginator().next(PageRequest("/ws/v1/district/student", params, total=7), page(records(3), served=6))
    assert list(following.params.items()) == [("expansions", "demographics"), ("page", 3), ("pagesize", 3)]
    assert PageNumberPaginator().next(PageRequest("/ws/v1/district/student", params, total=6), page(records(3), served=6)) is None


def test_page_numbers_stop_on_a_short_page_and_ask_nothing_of_an_empty_list():
    request = PageRequest("/ws/v1/district/student", {"page": 1, "pagesize": 3}, total=100)
    assert PageNumberPaginator().next(request, page(records(2), served=2)) is None
    assert PageNumberPaginator().first(PageRequest("/ws/v1/district/student", {"page": 1, "pagesize": 3}, total=0)) is None
    assert PageNumberPaginator().first(request) == request


def test_next_url_in_the_body_keeps_the_search_and_ends_on_null_or_an_empty_page():
    search = PageRequest("Generic/1/Student/Student/1/2", {"searchFields": ["StudentID"]}, method="POST", json={"q": 1})
    body = {"Objects": records(2), "Paging": {"Next": "/Generic/1/Student/Student/2/2"}}
    following = NextUrlPaginator("Paging", "Next").next(search, page(records(2), body=body))
    assert following == PageRequest("/Generic/1/Student/Student/2/2", {"searchFields": ["StudentID"]}, method="POST", json={"q": 1})
    assert NextUrlPaginator("Paging", "Next").next(search, page(records(2), body={"Paging": {"Next": None}})) is None
    assert NextUrlPaginator("Paging", "Next").next(search, page([], body=body)) is None
    assert NextUrlPaginator("Paging", "Next").next(search, page(records(2), body={"Paging": "none"})) is None


# --- OneRoster's chain: Link, else total count, else short page --------------------------------


@pytest.mark.parametrize(
    "headers, served, expected_offset",
    [
        ({"Link": f'<{STUDENTS}?limit=2&offset=2>; rel="next"', "X-Total-Count": "2"}, 2, None),  # the link wins
        ({"X-Total-Count": "3"}, 2, 2),
        ({"X-Total-Count": "2"}, 2, "done"),
        ({}, 2, 2),
        ({}, 1, "done"),
    ],
)
def test_oneroster_chain_prefers_the_link_then_the_count_then_a_short_page(headers, served, expected_offset):
    following = ONEROSTER.next(offset_request(), page(records(served), headers=headers))
    if expected_offset == "done":
        assert following is None
    elif expected_offset is None:
        assert following.params is None and following.url.endswith("offset=2")
    else:
        assert following.params["offset"] == expected_offset


def test_after_following_links_a_page_without_one_ends_the_list():
    followed = PageRequest(f"{STUDENTS}?limit=2&offset=2")
    assert ONEROSTER.next(followed, page(records(2), headers={"X-Total-Count": "10"})) is None
    assert ONEROSTER.next(followed, page(records(2))) is None


# --- The page loop ------------------------------------------------------------------------------


def serving(handler) -> ApiClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ApiClient("https://sis.example.org/api", None, http=http, name="paging-test", max_attempts=1)


def test_the_loop_yields_every_non_empty_page_the_paginator_leads_to():
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"users": records(5)[offset : offset + 2]}, headers={"X-Total-Count": "5"})

    pages = follow_pages(serving(handler), offset_request(), ONEROSTER, lambda body, response: body["users"], label="s students")
    assert [[r["sourcedId"] for r in p] for p in pages] == [["0", "1"], ["2", "3"], ["4"]]


def test_a_link_back_to_a_page_already_read_is_a_data_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"users": records(2)}, headers={"Link": '</api/students?limit=2&offset=2>; rel="next"'})

    pages = follow_pages(serving(handler), offset_request(), ONEROSTER, lambda body, response: body["users"], label="s students")
    with pytest.raises(DataError, match="s students: paging loops back to https://sis.example.org/api/students"):
        list(pages)


def test_a_next_url_back_to_the_first_page_is_a_data_error_however_it_is_spelt():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Objects": records(2), "Paging": {"Next": "/Generic/1/Student/Student/1/2"}})

    first = PageRequest("Generic/1/Student/Student/1/2", {"searchFields": ["StudentID"]})
    pages = follow_pages(serving(handler), first, NextUrlPaginator("Paging", "Next"), lambda body, response: body["Objects"], label="s")
    assert len(next(pages)) == 2
    with pytest.raises(DataError, match="paging loops back to /Generic/1/Student/Student/1/2"):
        next(pages)


class SlowPages:
    """Offset pages over real HTTP on loopback, each answered after `latency`; when requests arrive, and how
    many were in flight at once, are taken where they arrive."""

    def __init__(self, total: int, latency: float):
        self.total, self.latency = total, latency
        self.arrivals: list[float] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with pages._lock:
                    pages.arrivals.append(time.monotonic())
                    pages.in_flight += 1
                    pages.most_in_flight = max(pages.most_in_flight, pages.in_flight)
                time.sleep(pages.latency)
                query = parse_qs(urlsplit(self.path).query)
                offset, limit = int(query["offset"][0]), int(query["limit"][0])
                body = json.dumps({"users": records(pages.total)[offset : offset + limit]}).encode()
                with pages._lock:
                    pages.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> ApiClient:
        url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        return ApiClient(url, None, http=httpx.Client(timeout=10), name="paging-test-http", max_attempts=1)


def test_the_next_page_travels_while_the_caller_stages_this_one_one_request_in_flight():
    served = SlowPages(total=10, latency=0.2)
    client = served.client()
    handled: list[float] = []
    try:
        for _ in follow_pages(client, offset_request(limit=2), ONEROSTER, lambda body, response: body["users"], label="s"):
            time.sleep(0.3)  # staging a page
            handled.append(time.monotonic())
    finally:
        client.http.close()
        served.server.shutdown()

    assert len(handled) == 5 and len(served.arrivals) == 6  # five full pages, then the empty one that ends the list
    # each page after the first was asked for before the caller had finished with the one before it
    assert all(served.arrivals[page + 1] < handled[page] - 0.2 for page in range(5)), (served.arrivals, handled)
    assert served.most_in_flight == 1  # never more than one request of a list at a time
