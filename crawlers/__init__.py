"""Crawler plugins (entry-point group ``hubselect.crawlers``): ``t2i`` pipelines and ``lora`` adapters; see :mod:`crawlers.base`."""
