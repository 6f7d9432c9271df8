"""The zoo store: typed records and the :class:`Zoo` (a folder of parquet tables ⇄ a Hub dataset repo)."""

from hubselect.zoo.bundle import import_bundle
from hubselect.zoo.records import SCHEMA_VERSION, DatasetRecord, DistanceRecord, FailedJob, ModelRecord, ProfileRecord
from hubselect.zoo.store import Zoo, ZooMeta, check_zoo_folder, merge_into, update_zoo, zoo_lock

__all__ = [
    "SCHEMA_VERSION",
    "DatasetRecord",
    "DistanceRecord",
    "FailedJob",
    "ModelRecord",
    "ProfileRecord",
    "Zoo",
    "ZooMeta",
    "check_zoo_folder",
    "import_bundle",
    "merge_into",
    "update_zoo",
    "zoo_lock",
]
