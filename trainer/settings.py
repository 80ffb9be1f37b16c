"""The options of `seg report` and `seg segment` as dataclasses (TrainConfig of `seg train` is in
config.py). cli.py takes every option's default from these, so each default is written once.
This module imports nothing heavy: the command line reads it to build --help.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReportConfig:
    runs: list[str] = field(default_factory=list)   # run directories or names under runs_dir; empty = all
    runs_dir: str = "runs"
    split: str = "test"                              # split of the plots and the significance figures
    sort: str = "f1"                                 # metric the table rows are sorted by
    output: str = "report"
    format: str = "html"                             # html (one self-contained page) | md (+ PNGs beside it)
    force: bool = False
    resamples: int = 2000                            # bootstrap resamples of documents
    seed: int = 0                                    # bootstrap seed
    max_sentences: int = 150                         # sentences shown in the document view


@dataclass
class SegmentConfig:
    inputs: list[str] = field(default_factory=list)   # files, directories of .txt, or "-" (stdin)
    run: str = ""                        # run dir path or name under runs_dir; or rule | texttiling
    threshold: float | None = None       # override the run's threshold (texttiling: the depth cut-off value)
    output: str | None = None            # None = stdout; a file (one input) or a directory
    format: str = "text"                 # text | jsonl
    indent: bool = False                 # text: full-width space before narrative paragraphs
    ensemble: bool = False               # all repeats: mean probability, threshold tuned on the mean dev probability
    evaluate: bool = False               # score against the inputs' own breaks
    input_format: str = "auto"           # auto | aozora | lines | blank (as seg prep --format)
    window: int = 2                      # texttiling: block size in sentences on each side of a gap
    depth_cutoff: float = 0.5            # texttiling: break where depth > mean - C * std
    encoder: str = "e5"                  # texttiling: encoder of the sentence vectors
    dataset: str | None = None           # texttiling: take the encoder manifest of this dataset
    cache: str | None = None             # vector cache directory; None = the manifest's / <cache root>/vectors
    runs_dir: str = "runs"
    force: bool = False                  # overwrite existing output files
    engine: str = "local"                # local | ray: new sentences encoded on Ray actors, one output file per input, resumable
    address: str | None = None           # ray: cluster address (auto, HOST:PORT); None = RAY_ADDRESS or a local Ray
    workers: int = 0                     # ray: actors; 0 = one per GPU, else one per node
