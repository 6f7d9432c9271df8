"""hubselect: which pre-trained text-to-image model should you fine-tune on your dataset?"""

__version__ = "0.1.0"


def recommend(dataset: str, **options):
    """Rank a zoo's models for a dataset; see :func:`hubselect.recommendation.recommend`.

    >>> import hubselect
    >>> result = hubselect.recommend("org/my-dataset", zoo="org/zoo", top_k=5)  # doctest: +SKIP
    """
    from hubselect.recommendation import recommend as _recommend

    return _recommend(dataset, **options)
