"""Metrics on image sets: Fréchet statistics and distances (FID through clean-fid)."""

from hubselect.metrics.frechet import FrechetReference, FrechetStats, extract_features, frechet_distance, frechet_stats

__all__ = ["FrechetReference", "FrechetStats", "extract_features", "frechet_distance", "frechet_stats"]
