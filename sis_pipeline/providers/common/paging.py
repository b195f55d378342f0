"""How a SIS says where the next page is: paging strategies a provider declares, and the one loop that follows them.

A paginator is stateless: from the request just made and the page it brought back it decides the
next request, or that the list is done. Everything a strategy needs travels in the request (its
parameters, a total announced before paging) or in the page (headers, body, records), so one
paginator object serves every list and every thread of a provider.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx

from sis_pipeline.errors import DataError

log = logging.getLogger(__name__)

PROGRESS_EVERY_PAGES = 50


@dataclass(frozen=True)
class PageRequest:
    url: str  # a path under the API root, or an absolute URL
    params: dict | None = None
    method: str = "GET"
    json: dict | None = None  # a search body (Qmlativ's POST searches), sent with every page
    total: int | None = None  # records the SIS announced before paging (PowerSchool's /count)


@dataclass(frozen=True)
class Page:
    response: httpx.Response
    body: object
    records: list[dict]
    served: int  # records of this list so far, this page's included


class Paginator(ABC):
    def first(self, request: PageRequest) -> PageRequest | None:
        """The first request of a list, or None when there is nothing to ask for."""
        return request

    def decides(self, page: Page) -> bool:
        """Whether this page carries what the strategy reads (see FallbackPaginator)."""
        return True

    @abstractmethod
    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        """The request for the page after `page`, or None when the list is done."""


class LinkHeaderPaginator(Paginator):
    """RFC 8288 `Link: <url>; rel="next"`; the linked URL carries every parameter."""

    def decides(self, page: Page) -> bool:
        return "next" in page.response.links

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        link = page.response.links.get("next", {}).get("url")
        return replace(request, url=str(page.response.url.join(link)), params=None) if link else None


def _following_offset(request: PageRequest, page: Page, offset_param: str) -> PageRequest | None:
    """The same list at the offset after this page's records; None when the request pages by something else."""
    offset = (request.params or {}).get(offset_param)
    if offset is None or not page.records:
        return None
    same_list = str(page.response.url.copy_with(query=None))
    return replace(request, url=same_list, params={**request.params, offset_param: offset + len(page.records)})


class TotalCountPaginator(Paginator):
    """Offset paging that stops once the offset reaches the total the SIS states in a header (`X-Total-Count`)."""

    def __init__(self, offset_param: str = "offset", header: str = "X-Total-Count"):
        self.offset_param, self.header = offset_param, header

    def _total(self, page: Page) -> int | None:
        value = page.response.headers.get(self.header, "").strip()
        return int(value) if value.isdigit() else None

    def decides(self, page: Page) -> bool:
        return self._total(page) is not None

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        following = _following_offset(request, page, self.offset_param)
        total = self._total(page)
        if following is None or total is None:
            return None
        return following if following.params[self.offset_param] < total else None


class ShortPagePaginator(Paginator):
    """Offset paging that keeps asking until a page comes back with fewer records than the limit asked for."""

    def __init__(self, offset_param: str = "offset", limit_param: str = "limit"):
        self.offset_param, self.limit_param = offset_param, limit_param

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        following = _following_offset(request, page, self.offset_param)
        if following is None or len(page.records) < request.params[self.limit_param]:
            return None
        return following


class PageNumberPaginator(Paginator):
    """Numbered pages of a fixed size; stops once the announced total is served, or on a short page."""

    def __init__(self, page_param: str = "page", size_param: str = "pagesize"):
        self.page_param, self.size_param = page_param, size_param

    def first(self, request: PageRequest) -> PageRequest | None:
        return None if request.total is not None and request.total <= 0 else request

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if len(page.records) < request.params[self.size_param]:
            return None
        if request.total is not None and page.served >= request.total:
            return None
        return replace(request, params={**request.params, self.page_param: request.params[self.page_param] + 1})


class NextUrlPaginator(Paginator):
    """The next page's URL in the body (Qmlativ: `Paging.Next`); a null URL or an empty page ends the list."""

    def __init__(self, *path: str):
        self.path = path

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        value = page.body
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        return replace(request, url=value) if value and page.records else None


class FallbackPaginator(Paginator):
    """The first strategy whose signal the page carries decides; the last one always decides."""

    def __init__(self, *paginators: Paginator):
        self.paginators = paginators

    def first(self, request: PageRequest) -> PageRequest | None:
        for paginator in self.paginators:
            request = paginator.first(request)
            if request is None:
                return None
        return request

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        deciding = next((p for p in self.paginators[:-1] if p.decides(page)), self.paginators[-1])
        return deciding.next(request, page)


RecordsOf = Callable[[object, httpx.Response], list[dict]]


def follow_pages(client, first: PageRequest, paginator: Paginator, records_of: RecordsOf, *, label: str) -> Iterator[list[dict]]:
    """Every non-empty page of one list, as `paginator` leads; a list that asks for a page twice is a DataError.

    `client` is the integration's ApiClient; `records_of(body, response)` finds a page's records.
    The next page is requested before this one is handed over, so it travels while the caller stages
    this one: still one request of a list in flight at a time, in the same order, under the same limits
    (staging a page, its NDJSON lines, digest and change stamps, used to sit between a response and the next request).
    """
    request = paginator.first(first)
    requested: set[str] = set()
    served = 0
    fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page")

    def ask(request: PageRequest) -> Future:
        requested.add(client.url_for(request.url, request.params))
        return fetcher.submit(client.request, request.method, request.url, request.params, request.json, parse_json=True)

    try:
        in_flight = ask(request) if request is not None else None
        while in_flight is not None:
            response, body = in_flight.result()
            records = records_of(body, response)
            served += len(records)
            if len(requested) % PROGRESS_EVERY_PAGES == 0:
                log.info("%s: %d pages fetched", label, len(requested))
            following = paginator.next(request, Page(response, body, records, served))
            loops = following is not None and client.url_for(following.url, following.params) in requested
            in_flight = ask(following) if following is not None and not loops else None
            if records:
                yield records
            if loops:
                raise DataError(f"{label}: paging loops back to {following.url}")
            request = following
    finally:
        # a caller that stops early (an error, an interrupted run) waits for nothing; closing the provider ends the request
        fetcher.shutdown(wait=False, cancel_futures=True)
