"""embedstore: a searchable store of solo-piano performance embeddings.

Rooms (one package per job; layers and one line per module in ``docs/architecture.md``):

- ``embedstore.audio``        decode, validate (reason codes), resample, window
- ``embedstore.encoders``     frozen encoders behind one small interface + a registry (handcrafted, transformers,
                              wheel-shipped models, madmom)
- ``embedstore.alignment``    frame features, DTW, time maps, annotation transfer, interpretation curves
- ``embedstore.store``        LanceDB tables (local or object storage): recordings, spaces, vectors, frame
                              sequences, markers, rejects; lock, verify and repair
- ``embedstore.pipeline``     discover -> decode -> encode -> write, resumable; local and Ray engines
- ``embedstore.query``        embed a query exactly as a stored setup was built
- ``embedstore.search``       nearest-neighbour retrieval, batched queries, passages (backends in ``indexers``)
- ``embedstore.probes``       linear / MLP probes and the linear-probe benchmark
- ``embedstore.projections``  contrastive projection heads
- ``embedstore.frames``       frame-level models (dynamics, change points, beats, downbeats)
- ``embedstore.performance``  store-aware alignment: passages, transfer, curves, style
- ``embedstore.evaluation``   metrics (one module per task), grouped splits, confidence intervals
- ``embedstore.serve``        the web page and its JSON API
- ``embedstore.cli``          the Typer app (``embedstore`` console script), commands in ``embedstore.commands``

Heavy dependencies (torch, transformers, lance/lancedb, faiss, ray, madmom) are imported lazily.
"""

__version__ = "0.1.0"
