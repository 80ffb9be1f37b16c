"""seg.pipeline: raw novels -> labelled sentences (prep) -> cached sentence vectors (embed)."""

from importlib.metadata import PackageNotFoundError, version

try:   # the version is written once, in pyproject.toml
    __version__ = version("seg")
except PackageNotFoundError:   # a source tree used without `pip install -e .`
    __version__ = "unknown"
