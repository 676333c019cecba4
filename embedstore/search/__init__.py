"""Nearest-neighbour retrieval of similar performances over the store.

Queries
-------
- a stored recording (``recording_id=`` id, path, file name or stem): its stored vectors are used as they are;
- a file (``query_path=``): if its content is already indexed with the setup, the stored vectors are used;
  otherwise it is embedded exactly as the setup was indexed (same encoder, model revision, window and hop,
  :mod:`embedstore.query`); a projected space maps it with its stored transform (:mod:`embedstore.transforms`);
- a passage (``start_s``/``end_s``): the passage is cut from the audio and embedded (one vector, mean of its windows).

Results
-------
- whole-recording query: recordings ranked by cosine similarity of their pooled vectors; each hit carries the
  window of the hit that best matches the query (``start_s``/``end_s``);
- passage query, or ``windows=True``: windows ranked by cosine similarity; grouped to the best window per recording
  unless ``windows=True``.

Filters (``where``, SQL over the recordings table, e.g. ``composer = 'Chopin'``) apply before ranking with every
backend; selective filters fall back to exact search over the allowed subset so no recall is lost.

``mode="interpretation"`` removes what the piece explains (per-piece mean, see :mod:`embedstore.interpretation`)
and by default restricts results to other performances of the query's piece (``any_piece=True`` lifts that).
Interpretation vectors are derived on the fly, so they are always searched exactly.

Modules
-------
- ``engine``               :func:`search`
- ``queries``              the query vector (stored, embedded, or projected)
- ``ranking``              loaded spaces, indexes per backend, filtered top-k
- ``passages``             best window of each hit; :func:`passage_similarity`
- ``interpretation_mode``  residual search
- ``results``              :class:`Hit`, :class:`SearchResult`

Search depends on the store, the query embedding and the indexers only: never on training code (probes,
projections).
"""

from embedstore.search.engine import MODES, search
from embedstore.search.passages import passage_similarity
from embedstore.search.ranking import BACKENDS, Backend, get_index, index_dir, normalise
from embedstore.search.results import Hit, SearchResult

__all__ = [
    "BACKENDS",
    "MODES",
    "Backend",
    "Hit",
    "SearchResult",
    "get_index",
    "index_dir",
    "normalise",
    "passage_similarity",
    "search",
]
