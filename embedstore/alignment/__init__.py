"""Music alignment: frame features, dynamic time warping, time maps, annotation transfer, interpretation curves.

Pure algorithms (layer 3: numpy/scipy, librosa and numba inside functions); the store-aware tasks built on them
live in :mod:`embedstore.performance`.

Modules
-------
``features``     frame features (quantised chroma / CENS, chroma onsets, onset strength, loudness) at 50 frames/s
``dtw``          banded DTW with fixed or free ends (numba kernel), cost functions, bands around coarse paths
``chunking``     banded DTW in bounded pieces (hour-long recordings)
``compare``      rank a piece's performances by interpretation-curve correlation
``sequence``     the FrameFeatures container, CENS, the compact stored form
``sync``         multi-resolution alignment of two recordings -> :class:`Alignment` with a :class:`TimeMap`
``subsequence``  subsequence DTW: where does a passage occur in a recording (librosa)
``refine``       stage 2 of passage search: window candidates -> frame-accurate matches
``timemap``      monotone time maps A -> B, inverse, JSON/CSV
``transfer``     annotation files (CSV/TSV/Audacity/JSON) and their transfer through a time map
``curves``       tempo and loudness curves on a reference grid, correlations, style statistics
``plot``         the alignment figure
"""

from embedstore.alignment.curves import Curves, interpretation_curves, style_statistics
from embedstore.alignment.features import FrameFeatures, compute_features, features_from_file
from embedstore.alignment.subsequence import Match, find_matches
from embedstore.alignment.sync import Alignment, align_features, align_files
from embedstore.alignment.timemap import TimeMap
from embedstore.alignment.transfer import read_annotations, transfer_annotations, write_annotations

__all__ = [
    "Alignment",
    "Curves",
    "FrameFeatures",
    "Match",
    "TimeMap",
    "align_features",
    "align_files",
    "compute_features",
    "features_from_file",
    "find_matches",
    "interpretation_curves",
    "read_annotations",
    "style_statistics",
    "transfer_annotations",
    "write_annotations",
]
