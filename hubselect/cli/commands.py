"""Imports every command module so that their commands register on the ``cli`` group."""

from hubselect.cli import crawl  # noqa: F401
from hubselect.cli import dataset  # noqa: F401
from hubselect.cli import demo  # noqa: F401
from hubselect.cli import profile  # noqa: F401
from hubselect.cli import recommend  # noqa: F401
from hubselect.cli import selection  # noqa: F401
from hubselect.cli import zoo  # noqa: F401
