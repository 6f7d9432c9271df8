"""hubselect: which pre-trained text-to-image model should you fine-tune on your dataset?

``hubselect.recommend`` ranks a zoo's models for a dataset (:func:`hubselect.recommendation.recommend`).

>>> import hubselect
>>> result = hubselect.recommend("org/my-dataset", zoo="org/zoo", top_k=5)  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["__version__", "recommend"]

if TYPE_CHECKING:  # what IDEs and type checkers read: the function itself
    from hubselect.recommendation import recommend


def __getattr__(name: str):
    """``hubselect.recommend`` is :func:`hubselect.recommendation.recommend` itself (its signature
    and help), imported when first used: ``import hubselect``, which every CLI command does,
    would otherwise read pandas and the Hub client before parsing its options."""
    if name == "recommend":
        from hubselect.recommendation import recommend

        return recommend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and ``recommend``, not yet loaded: ``dir()``, tab completion and
    ``help(hubselect)`` (which lists what ``dir()`` names) show it before its first use."""
    return sorted({*globals(), *__all__})
