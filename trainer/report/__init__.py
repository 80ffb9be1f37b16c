"""`seg report`: compare finished runs at a glance.

    collect.py       find run directories and read them (bad or old runs become notes)
    tables.py        the comparison table: differing settings, metrics mean ± std, best marked
    significance.py  bootstrap over documents and t-test over repeats against the best run
    plots.py         matplotlib (Agg) figures: training, thresholds, per document, timeline, attention
    attention.py     attention weights of transformer/attmem runs on chosen gaps
    content.py       what a report holds; html.py and markdown.py write it
    report.py        ReportConfig and report(cfg) -> the report directory
"""

from .report import ReportConfig, report

__all__ = ["ReportConfig", "report"]
