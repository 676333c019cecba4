"""Linear probes on every layer at once: the shared forward pass, and one import for both linear models.

- :mod:`embedstore.probes.ridge`     closed-form ridge regression (:func:`ridge_select`, :func:`ridge_fit`, their
  many-target forms and :func:`ridge_cross_validate`) on :class:`~embedstore.probes.gram.GramCache` moments
- :mod:`embedstore.probes.logistic`  L2 logistic regression with batched L-BFGS (:func:`logistic_fit`,
  :func:`logistic_select`, :func:`pick`)

Both return parameters in raw feature coordinates, ``W`` (L, d, o) and ``b`` (L, o), evaluated by
:func:`linear_forward`. The names of both modules are importable from here.
"""

from __future__ import annotations

import numpy as np

from embedstore.probes.gram import GramCache
from embedstore.probes.logistic import LAMBDAS, logistic_fit, logistic_select, pick
from embedstore.probes.ridge import (
    ALPHAS,
    ridge_cross_validate,
    ridge_fit,
    ridge_fit_many,
    ridge_select,
    ridge_select_many,
)
from embedstore.probes.training import torch_threads

__all__ = [
    "ALPHAS",
    "LAMBDAS",
    "GramCache",
    "linear_forward",
    "logistic_fit",
    "logistic_select",
    "pick",
    "ridge_cross_validate",
    "ridge_fit",
    "ridge_fit_many",
    "ridge_select",
    "ridge_select_many",
    "torch_threads",
]


def linear_forward(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs of per-layer linear maps.

    Parameters
    ----------
    params : ``W`` (L, d, t) and ``b`` (L, t), raw feature coordinates
    X : (L, n, d) features

    Returns
    -------
    np.ndarray, shape (L, n, t), float32
    """
    X = np.asarray(X, dtype=np.float32)
    return np.einsum("lnd,ldt->lnt", X, params["W"], optimize=True) + params["b"][:, None, :]
