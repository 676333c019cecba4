"""The numpy subsequence DTW gives librosa's numbers exactly (it replaces librosa's numba kernel, which costs seconds
of compilation in every CLI call that refines a passage)."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.alignment.subsequence import STEP_SIZES, backtrack, subsequence_dtw


@pytest.mark.parametrize(
    ("n", "m", "levels"), [(5, 40, 0), (30, 200, 0), (12, 12, 4), (40, 25, 3), (2, 3, 0)]
)
def test_same_accumulated_cost_steps_and_paths_as_librosa(n, m, levels):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(n * 1000 + m)
    C = rng.random((n, m))
    if levels:  # quantised costs: many ties, which must go to the same step
        C = np.round(C * levels) / levels
    D_ref, steps_ref = librosa.sequence.dtw(
        C=C, subseq=True, step_sizes_sigma=STEP_SIZES, backtrack=False, return_steps=True
    )
    D, steps = subsequence_dtw(C)
    np.testing.assert_array_equal(D, D_ref)
    np.testing.assert_array_equal(steps, steps_ref)
    for end in np.flatnonzero(np.isfinite(D[-1])):
        ref = librosa.sequence.dtw_backtracking(
            steps_ref, step_sizes_sigma=STEP_SIZES, subseq=True, start=int(end)
        )
        np.testing.assert_array_equal(backtrack(steps, int(end)), np.asarray(ref))
