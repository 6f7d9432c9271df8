"""How hubselect sees a dataset: ingestion, robust decoding, features, probe profiles, similarity.

>>> sample = load_dataset_sample("org/pets", n=500, seed=0)  # doctest: +SKIP
>>> profile = profile_dataset("org/pets", probe="openai/clip-vit-base-patch32")  # doctest: +SKIP
>>> add_to_zoo(zoo, profile)  # doctest: +SKIP
"""

from hubselect.data.decode import DecodedImage, Skip, decode_image
from hubselect.data.features import dataset_features
from hubselect.data.profile import (
    DatasetProfile,
    add_to_zoo,
    default_probe,
    profile_dataset,
    profile_from_sample,
    similar_in_zoo,
    zoo_probes,
    zoo_profiles,
)
from hubselect.data.refs import DatasetRef, SampleSpec
from hubselect.data.sample import DatasetSample, dataset_revision, load_dataset_sample
from hubselect.data.similarity import nearest, pairwise_distances

__all__ = [
    "DatasetProfile",
    "DatasetRef",
    "DatasetSample",
    "DecodedImage",
    "SampleSpec",
    "Skip",
    "add_to_zoo",
    "dataset_features",
    "dataset_revision",
    "decode_image",
    "default_probe",
    "load_dataset_sample",
    "nearest",
    "pairwise_distances",
    "profile_dataset",
    "profile_from_sample",
    "similar_in_zoo",
    "zoo_probes",
    "zoo_profiles",
]
