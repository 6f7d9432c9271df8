"""Ships the top-level ``cards/`` templates inside the package as ``hubselect.cards``.

Everything else is declared in pyproject.toml; pyproject alone cannot map a top-level folder
into the package while also discovering packages automatically.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["hubselect", "hubselect.*", "crawlers", "crawlers.*"]) + ["hubselect.cards"],
    package_dir={"hubselect.cards": "cards"},
    package_data={"hubselect.cards": ["*.j2"], "hubselect": ["bundles/*/*", "demo/**/*"]},
)
