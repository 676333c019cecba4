"""embedstore: a searchable store of solo-piano performance embeddings.

Rooms (one module per job):

- ``embedstore.audio``        decode, validate, resample, window
- ``embedstore.encoders``     frozen encoders behind one small interface + a registry
- ``embedstore.store``        LanceDB tables: recordings, embedding spaces, rejects
- ``embedstore.pipeline``     reader -> encoder -> writer indexing, resumable
- ``embedstore.search``       nearest-neighbour retrieval over the store (backends in ``indexers``)
- ``embedstore.probes``       linear / MLP probes and the linear-probe benchmark
- ``embedstore.projections``  contrastive projection heads
- ``embedstore.frames``       frame-level probes (dynamics, beats, downbeats)
- ``embedstore.evaluation``   metrics (one module per task), grouped splits, confidence intervals
- ``embedstore.cli``          the Typer app (``embedstore`` console script)

Heavy dependencies (torch, transformers, lancedb, faiss) are imported lazily.
"""

__version__ = "0.1.0"
