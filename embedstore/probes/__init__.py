"""Probes on stored embeddings: which encoder, layer and pooling understands piano performance best?

- :mod:`~embedstore.probes.tasks`      task definitions (difficulty, technique, ratings, ranking), metrics, baselines
- :mod:`~embedstore.probes.linear`     batched closed-form ridge and logistic regression over all layers
- :mod:`~embedstore.probes.mlp`        MLP, layer-mix (softmax-weighted layers) and attention-pooling probes
- :mod:`~embedstore.probes.ranking`    siamese pairwise scorer and Bradley-Terry scores
- :mod:`~embedstore.probes.benchmark`  grouped cross-validation with inner model selection, grids, final fits
- :mod:`~embedstore.probes.report`     report.md, results.csv/json and layer plots
- :mod:`~embedstore.probes.persist`    saved probes (safetensors + JSON) with a provenance check

Quick use::

    from embedstore.store import Store
    from embedstore.probes.benchmark import load_task, run_probe
    from embedstore.probes.report import write_report

    store = Store("store/")
    task = load_task(store, "difficulty", target="henle", group_by="piece_id")
    run = run_probe(store, task, layers="all", probes=["linear"], save_dir="report/difficulty/model")
    write_report("report/", run.rows)
"""
