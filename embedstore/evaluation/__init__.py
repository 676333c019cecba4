"""Evaluation: one module per task (pure metric functions), grouped splits and confidence intervals.

- ``splits``     leakage-safe grouped k-fold (by piece, performer or recording) and inner validation splits
- ``stats``      bootstrap confidence intervals, fold spread
- ``retrieval``  MAP, MRR, mean rank of first relevant, P@k, exact chance levels
- ``classification``, ``regression``, ``ranking``, ``multilabel``  probe metrics (accuracy, macro-F1, +-1
  accuracy, MAE; R2, Pearson, Spearman; pairwise accuracy, antisymmetry, intransitive triples; AP, mAP, AUROC)
- ``util``       input checks and helpers shared by the metric modules (paired 1-d inputs, average ranks)

Conventions (every module): metrics are pure functions ``metric(reference, estimated, **params)`` on numpy
arrays; ``reference`` is the ground truth, ``estimated`` the system's output, one entry per item; a bad input
raises ``ValueError``; undefined scores are NaN and aggregates skip them; each module's docstring states its task,
units and chance level. Only numpy is imported.
"""
