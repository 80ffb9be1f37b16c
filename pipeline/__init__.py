"""seg.pipeline: raw novels -> labelled sentences (prep) -> cached sentence vectors (embed)."""

__version__ = "0.1.0"
