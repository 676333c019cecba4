"""Evaluation: one module per task (pure metric functions), grouped splits and confidence intervals.

- ``splits``     leakage-safe grouped k-fold (by piece, performer or recording) and inner validation splits
- ``stats``      bootstrap confidence intervals, fold spread
- ``retrieval``  MAP, MRR, mean rank of first relevant, P@k, exact chance levels
- ``classification``, ``regression``, ``ranking``, ``multilabel``  probe metrics (accuracy, macro-F1, +-1
  accuracy, MAE; R2, Pearson, Spearman; pairwise accuracy, antisymmetry, intransitive triples; AP, mAP, AUROC)
"""
