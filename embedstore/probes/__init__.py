"""Probes on stored embeddings: which encoder, layer and pooling understands piano performance best?

Tasks and scoring
- :mod:`~embedstore.probes.tasks`     task definitions (difficulty, technique, ratings, ranking), targets, decoding
- :mod:`~embedstore.probes.metrics`   metric functions per head (point and vectorised bootstrap forms), baselines
- :mod:`~embedstore.probes.bootstrap` exact vectorised cluster bootstrap of the metrics

Models (every layer at once)
- :mod:`~embedstore.probes.gram`      second moments (Gram matrices) of row subsets, per-layer threads
- :mod:`~embedstore.probes.ridge`     closed-form ridge, selection and cross-validation on those moments
- :mod:`~embedstore.probes.logistic`  L2 logistic regression with batched L-BFGS
- :mod:`~embedstore.probes.linear`    the linear forward pass (and one import for ridge and logistic)
- :mod:`~embedstore.probes.training`  torch training loop, options, losses, standardisation
- :mod:`~embedstore.probes.nets`      the torch modules (batched MLP, layer mix, attention pooling)
- :mod:`~embedstore.probes.mlp`       MLP and layer-mix probes; :mod:`~embedstore.probes.attention` attention
  pooling over windows; :mod:`~embedstore.probes.ranking` siamese pairwise scorer and Bradley-Terry scores
- :mod:`~embedstore.probes.models`    which model a probe name fits per head, fitting with inner selection

Protocol and runs
- :mod:`~embedstore.probes.crossval`  grouped outer folds, inner model selection, out-of-fold outputs
- :mod:`~embedstore.probes.scoring`   metric rows with CIs, baselines, best rows, summaries
- :mod:`~embedstore.probes.inputs`    labels joined to the store, setups, layers, aligned feature stacks
- :mod:`~embedstore.probes.run`       one task over every setup x pooling x layer x probe
- :mod:`~embedstore.probes.final`     refit the best probe on all rows
- :mod:`~embedstore.probes.benchmark` grids of runs from a TOML/JSON config (and one import for the protocol)
- :mod:`~embedstore.probes.persist`   saved probes (safetensors + JSON) with a provenance check
- :mod:`~embedstore.probes.report`    report.md, results.csv/json and layer plots
- :mod:`~embedstore.probes.workflow`  what the ``probe``, ``benchmark`` and ``predict`` commands run

Quick use::

    from embedstore.store import Store
    from embedstore.probes.benchmark import load_task, run_probe
    from embedstore.probes.report import write_report

    store = Store("store/")
    task = load_task(store, "difficulty", target="henle", group_by="piece_id")
    run = run_probe(store, task, layers="all", probes=["linear"], save_dir="report/difficulty/model")
    write_report("report/", run.rows)
"""
