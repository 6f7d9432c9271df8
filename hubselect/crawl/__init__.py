"""Crawling the Hub into a zoo: the driver (paging, budget, state, resume), crawl state and safety checks.

>>> from hubselect.crawl import CrawlOptions, crawl
>>> summary = crawl("my-zoo", CrawlOptions(kind="t2i", limit=50))  # doctest: +SKIP
>>> summary.crawled, summary.flagged  # doctest: +SKIP
(47, {'org/pickled': 'weights only as pickle files (unet): loading them can run code'})
"""

from hubselect.crawl.driver import CrawlOptions, CrawlSummary, crawl, open_or_create_zoo
from hubselect.crawl.state import STATE_FILE, CrawlState

__all__ = ["STATE_FILE", "CrawlOptions", "CrawlState", "CrawlSummary", "crawl", "open_or_create_zoo"]
