"""bench/threshold_ceiling.py: the per-document threshold oracle the README's ceiling comes from."""

import importlib.util
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location("threshold_ceiling", Path(__file__).resolve().parent.parent / "bench" / "threshold_ceiling.py")
tc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tc)


def pooled_f1(per_doc, pick):
    return tc.f1_of(*sum(c[p] for c, p in zip(per_doc, pick)))


def test_oracle_finds_per_document_thresholds_no_single_threshold_has():
    # work A: its breaks score 0.9, its other gaps 0.8; work B: breaks 0.2, others 0.1.
    # No one threshold separates both; one threshold per work does (F1 1.0).
    a_lab, a_prob = np.array([1, 0, 1, 0, 0]), np.array([0.9, 0.8, 0.9, 0.8, 0.8])
    b_lab, b_prob = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.1, 0.2])
    per_doc = [tc.counts(a_lab, a_prob), tc.counts(b_lab, b_prob)]
    best_single = max(pooled_f1(per_doc, [k, k]) for k in range(len(tc.GRID)))
    assert best_single < 0.9
    start = int(np.argmin(np.abs(tc.GRID - 0.5)))
    pick = tc.oracle_thresholds(per_doc, start)
    assert pooled_f1(per_doc, pick) == 1.0
    assert 0.8 < tc.GRID[pick[0]] <= 0.9 and 0.1 < tc.GRID[pick[1]] <= 0.2


def test_oracle_never_scores_below_its_start_and_matches_brute_force_on_two_works():
    rng = np.random.default_rng(0)
    for _ in range(5):
        per_doc = []
        for n in (40, 25):
            lab = rng.integers(0, 2, n)
            per_doc.append(tc.counts(lab, np.clip(lab * 0.3 + rng.random(n) * 0.7, 0, 0.99)))
        start = int(rng.integers(0, len(tc.GRID)))
        pick = tc.oracle_thresholds(per_doc, start, passes=20)
        assert pooled_f1(per_doc, pick) >= pooled_f1(per_doc, [start, start])
        brute = max(pooled_f1(per_doc, [i, j]) for i in range(len(tc.GRID)) for j in range(len(tc.GRID)))
        assert pooled_f1(per_doc, pick) == brute
