"""An HTML mail body laid out as the sender saw it, to one PDF, with WeasyPrint.

Runs inside the render worker only. Every URL the HTML names goes through ``MailFetcher``,
which serves the mail's own ``cid:`` parts and ``data:`` URLs and refuses everything else
(``http:``, ``file:``, relative URLs resolved against a ``<base>``): nothing outside the mail
is ever read, and the network is never touched.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from typing import Any

from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from mail2fax.mail.body import Resource, normalised_cid

# Mail clients size images for a screen; on a page they must not run off its edge.
PAGE_CSS = """
@page { size: letter; margin: 0.5in; }
img { max-width: 100%; height: auto; }
"""
MAX_DATA_URL = 10 * 1024 * 1024


class PageLimit(Exception):
    def __init__(self, pages: int):
        super().__init__(f"{pages} pages")
        self.pages = pages


class MailFetcher(URLFetcher):  # type: ignore[misc]
    """WeasyPrint's URL fetcher, narrowed to the mail's own parts."""

    def __init__(self, resources: dict[str, Resource]):
        super().__init__(allowed_protocols=("cid", "data"), fail_on_errors=False)
        self.resources = resources
        self.refused: list[str] = []
        self.served: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.partition(":")[0].strip().lower()
        if scheme == "cid":
            resource = self.resources.get(normalised_cid(url.partition(":")[2]))
            if resource is not None:
                self.served.append(url)
                return URLFetcherResponse(url, resource.data, {"Content-Type": resource.content_type})
        elif scheme == "data" and len(url) <= MAX_DATA_URL:
            request = urllib.request.Request(url)  # noqa: S310 - only data: gets here, decoded in memory
            with urllib.request.DataHandler().data_open(request) as answer:
                body = answer.read()
                content_type = answer.headers.get("Content-Type", "application/octet-stream")
            return URLFetcherResponse(url, body, {"Content-Type": content_type})
        self.refused.append(url[:200])
        raise ValueError("only the mail's own parts are shown")

    def open(self, url: Any, data: Any = None, timeout: Any = None) -> URLFetcherResponse:
        # urllib's own entry point, closed as well: nothing may reach its handlers.
        return self.fetch(url if isinstance(url, str) else str(getattr(url, "full_url", "")))


@dataclass(frozen=True, slots=True)
class Rendered:
    pdf: bytes
    pages: int
    images: int  # how many of the mail's parts were shown
    refused: tuple[str, ...]  # URLs the HTML asked for that were not fetched


def render_pdf(markup: str, resources: dict[str, Resource], *, max_pages: int) -> Rendered:
    """``markup`` as a PDF; PageLimit when it makes more than ``max_pages`` pages."""
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
    fetcher = MailFetcher(resources)
    document = HTML(string=markup, base_url=None, url_fetcher=fetcher).render(
        stylesheets=[CSS(string=PAGE_CSS, url_fetcher=fetcher)], presentational_hints=True
    )
    if len(document.pages) > max_pages:
        raise PageLimit(len(document.pages))
    pdf = document.write_pdf()
    return Rendered(pdf, len(document.pages), len(fetcher.served), tuple(fetcher.refused))
