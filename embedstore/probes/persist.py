"""Saved probes: ``config.json`` + ``model.safetensors`` (no pickle), with the provenance of their embeddings.

Layout of a probe folder::

    model/
      config.json        task, heads, classes/targets, setup key, level, pooling, layer(s), provenance, CV scores
      model.safetensors  tensors named "<head>.<param>" (float32)

A probe only accepts embeddings whose provenance (encoder, model id, revision, sample rate, dim, layer names,
encoder params, window, hop, layer, level, pooling) equals the one it was trained on; anything else is a
:class:`~embedstore.errors.ProvenanceError`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore import __version__
from embedstore.errors import ConfigError, ProvenanceError
from embedstore.probes.attention import pad_sequences
from embedstore.probes.models import forward_params
from embedstore.query import embed_file
from embedstore.utils import crash_point, jsonable, sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Store

FORMAT = "embedstore-probe"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Provenance keys that must match (``embedstore_version`` and bookkeeping keys are ignored).
PROVENANCE_KEYS = (
    "encoder",
    "model_id",
    "revision",
    "sample_rate",
    "dim",
    "layer_names",
    "params",
    "window_s",
    "hop_s",
    "layer",
    "level",
    "pooling",
)


def provenance_diff(expected: dict, actual: dict, *, keys: tuple[str, ...] = PROVENANCE_KEYS) -> list[str]:
    """Keys whose values differ between two provenance dicts (only keys present in ``expected``)."""
    out = []
    for k in keys:
        if k not in expected:
            continue
        a, b = expected.get(k), actual.get(k)
        if isinstance(a, float) or isinstance(b, float):
            try:
                if abs(float(a) - float(b)) <= 1e-9:
                    continue
            except (TypeError, ValueError):
                pass
        if a != b:
            out.append(k)
    return out


def check_provenance(expected: dict, actual: dict, *, what: str = "probe") -> None:
    """Raise :class:`ProvenanceError` when ``actual`` embeddings differ from what ``expected`` was trained on."""
    diff = provenance_diff(expected, actual)
    if diff:
        detail = "; ".join(f"{k}: trained on {expected.get(k)!r}, got {actual.get(k)!r}" for k in diff[:4])
        raise ProvenanceError(
            f"this {what} was trained on other embeddings ({detail})",
            hint=f"use embeddings of setup {expected.get('setup_key', '?')} layer {expected.get('layer', '?')} "
            f"({expected.get('level', '?')}/{expected.get('pooling', '?')}), or train a new {what} on this store",
        )


class Probe:
    """A trained probe: per-head parameters plus everything needed to use it safely.

    Parameters
    ----------
    config : dict (see :func:`embedstore.probes.final.save_best` for the keys)
    tensors : ``{"<head>.<param>": array}``
    """

    def __init__(self, config: dict, tensors: dict[str, np.ndarray]):
        self.config = config
        self.tensors = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}

    # -------------------------------------------------------------- structure
    @property
    def heads(self) -> list[str]:
        """The heads this probe predicts."""
        return list(self.config["heads"])

    def head_params(self, head: str) -> dict[str, np.ndarray]:
        """The parameters of one head, keyed without the ``<head>.`` prefix."""
        pre = head + "."
        return {k[len(pre) :]: v for k, v in self.tensors.items() if k.startswith(pre)}

    def layers(self, head: str | None = None) -> list[int]:
        """Layers a head (default: all heads) reads."""
        hs = [head] if head else self.heads
        out: list[int] = []
        for h in hs:
            for li in self.config["heads"][h]["layers"]:
                if li not in out:
                    out.append(int(li))
        return sorted(out)

    def space_provenance(self, layer: int) -> dict:
        """The provenance a space must have to feed this probe's ``layer``."""
        p = dict(self.config["provenance"])
        p.update(
            layer=int(layer),
            level=self.config["level"],
            pooling=self.config["pooling"],
            setup_key=self.config["setup_key"],
        )
        return p

    def check(self, provenance_by_layer: dict[int, dict]) -> None:
        """Check the provenance of the embeddings given for each needed layer (ProvenanceError on mismatch)."""
        for li in self.layers():
            if li not in provenance_by_layer:
                raise ProvenanceError(
                    f"probe needs layer {li} of setup {self.config['setup_key']}, not given"
                )
            check_provenance(self.space_provenance(li), provenance_by_layer[li])

    # -------------------------------------------------------------- prediction
    def predict(self, features: dict[int, np.ndarray], *, mask: np.ndarray | None = None) -> dict[str, dict]:
        """Predict every head.

        Parameters
        ----------
        features : ``{layer: array}``: recording vectors (n, d) for recording-level probes, or padded window
            sequences (n, T, d) with ``mask`` (n, T) for attention probes

        Returns
        -------
        ``{head: {"prediction": (n,) or (n, k), "scores": (n, o) raw outputs, ...}}`` with per-class
        probabilities for classification (``probabilities``) and multilabel (``probabilities`` when the model
        outputs logits), and the class / target names.
        """
        out: dict[str, dict] = {}
        for head in self.heads:
            hc = self.config["heads"][head]
            kind = hc["kind"]
            params = self.head_params(head)
            lay = [int(x) for x in hc["layers"]]
            if kind == "attention":
                X = np.stack([np.asarray(features[li], np.float32) for li in lay])
                if mask is None:
                    mask = np.ones(X.shape[1:3], dtype=bool)
                raw = forward_params(kind, params, (X, mask))[0]
            else:
                X = np.stack(
                    [np.asarray(features[li], np.float32).reshape(-1, features[li].shape[-1]) for li in lay]
                )
                raw = forward_params(kind, params, X)[0]
            out[head] = self._decode(head, hc, raw)
        return out

    def _decode(self, head: str, hc: dict, raw: np.ndarray) -> dict:
        res: dict = {"scores": raw}
        if head == "classification":
            classes = self.config["classes"]
            z = raw - raw.max(axis=1, keepdims=True)
            if hc.get("outputs") == "logits":
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                res["probabilities"] = p
            res["prediction"] = np.asarray(classes, dtype=object)[np.argmax(raw, axis=1)]
            res["classes"] = classes
        elif head == "ordinal":
            lo, hi = min(self.config["classes"]), max(self.config["classes"])
            res["value"] = raw[:, 0]
            res["prediction"] = np.clip(np.rint(raw[:, 0]), lo, hi)
        elif head == "multilabel":
            if hc.get("outputs") == "logits":
                res["probabilities"] = 1.0 / (1.0 + np.exp(-raw))
            res["prediction"] = raw
            res["classes"] = self.config["target_names"]
        elif head == "regression":
            res["prediction"] = raw
            res["targets"] = self.config["target_names"]
        elif head == "ranking":
            res["prediction"] = raw[:, 0]
        return res

    # -------------------------------------------------------------- IO
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path`` (created)."""
        from safetensors.numpy import save_file

        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        cfg = dict(self.config)
        cfg.setdefault("format", FORMAT)
        cfg.setdefault("format_version", FORMAT_VERSION)
        cfg.setdefault("embedstore_version", __version__)
        cfg.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        tmp_w = p / (WEIGHTS_NAME + ".tmp")
        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.tensors.items()},
            str(tmp_w),
            metadata={"format": FORMAT, "task": str(cfg.get("task", ""))},
        )
        cfg["weights_sha256"] = sha256_file(
            tmp_w
        )  # load refuses weights of another save (an interrupted one)
        self.config = cfg
        crash_point("before_probe_weights")
        os.replace(tmp_w, p / WEIGHTS_NAME)
        crash_point("before_probe_config")
        tmp_c = p / (CONFIG_NAME + ".tmp")
        tmp_c.write_text(json.dumps(jsonable(cfg), indent=2, sort_keys=True))
        os.replace(tmp_c, p / CONFIG_NAME)
        crash_point("after_probe_config")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Probe:
        """Load a probe folder (safetensors + JSON only; nothing is unpickled)."""
        from safetensors.numpy import load_file

        p = Path(path)
        if p.is_file() and p.name in (CONFIG_NAME, WEIGHTS_NAME):
            p = p.parent
        cfg_path, w_path = p / CONFIG_NAME, p / WEIGHTS_NAME
        if not cfg_path.exists() or not w_path.exists():
            raise ConfigError(
                f"no probe at {p}",
                hint=f"a probe folder holds {CONFIG_NAME} and {WEIGHTS_NAME}; "
                "train one with `embedstore probe ... --out DIR` (it is saved in DIR/<task>/model)",
            )
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("format") != FORMAT:
            raise ConfigError(f"{cfg_path} is not an embedstore probe config")
        if cfg.get("weights_sha256") and cfg["weights_sha256"] != sha256_file(w_path):
            raise ConfigError(
                f"the probe at {p} is inconsistent: {WEIGHTS_NAME} is not the one {CONFIG_NAME} was saved with "
                "(an interrupted save?)",
                hint="save or train the probe again (`embedstore probe ... --out DIR`)",
            )
        return cls(cfg, load_file(str(w_path)))


# ---------------------------------------------------------------------------------------------- using a probe
def check_store(probe: Probe, store: Store) -> dict[int, dict]:
    """Check that ``store`` holds the embeddings ``probe`` needs, with the same provenance.

    Returns ``{layer: space provenance}``. A store built with another encoder, model, window, hop, layer set or
    pooling is a :class:`ProvenanceError`.
    """
    cfg = probe.config
    spaces = store.spaces()
    want = cfg["setup_key"]
    level, pooling = cfg["level"], cfg["pooling"]
    mine = [
        s
        for s in spaces
        if s.setup_key == want and s.level == level and (level == "window" or s.pooling == pooling)
    ]
    if not mine:
        same_enc = sorted({s.setup_key for s in spaces if s.encoder == cfg.get("encoder")})
        have = sorted({s.setup_key for s in spaces}) or ["nothing"]
        if same_enc:
            other = next(s for s in spaces if s.setup_key == same_enc[0])
            diff = provenance_diff(
                probe.space_provenance(probe.layers()[0]),
                {**other.provenance, "level": level, "pooling": pooling},
            )
            raise ProvenanceError(
                f"the probe needs {want} ({level}/{pooling}) embeddings; the store has {', '.join(same_enc)}"
                + (f" (differs in: {', '.join(diff)})" if diff else ""),
                hint=f"index the audio with the probe's setup (encoder {cfg.get('encoder')}, window "
                f"{cfg.get('window_s')} s, hop {cfg.get('hop_s')} s) or train a probe on this store",
            )
        raise ProvenanceError(
            f"the probe was trained on {want} ({cfg.get('encoder')}) embeddings; store {store.uri} holds "
            + ", ".join(have),
            hint="use the store the probe was trained on, or index with the same encoder setup",
        )
    by_layer = {s.layer: s for s in mine}
    out = {}
    for li in probe.layers():
        if li not in by_layer:
            raise ProvenanceError(f"the store has no layer {li} of {want}; the probe needs it")
        out[li] = {**by_layer[li].provenance, "setup_key": want}
    probe.check(out)
    return out


def store_features(
    probe: Probe, store: Store, recording_ids: list[str] | np.ndarray
) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    """Features of stored recordings for ``probe`` (after :func:`check_store`): ``({layer: array}, mask)``."""
    check_store(probe, store)
    cfg = probe.config
    rids = [str(r) for r in recording_ids]
    feats: dict[int, np.ndarray] = {}
    mask = None
    for li in probe.layers():
        sp = store.find_space(setup=cfg["setup_key"], layer=li, level=cfg["level"], pooling=cfg["pooling"])
        es = store.load(sp, recording_ids=rids, with_metadata=False)
        if cfg["level"] == "window":
            S, mask = pad_sequences(es.vectors[None], es.recording_ids, rids)
            feats[li] = S[0]
        else:
            pos = {str(r): i for i, r in enumerate(es.recording_ids)}
            missing = [r for r in rids if r not in pos]
            if missing:
                raise ProvenanceError(f"recording {missing[0]} has no {sp.space_id} vector")
            feats[li] = es.vectors[[pos[r] for r in rids]]
    return feats, mask


def file_features(
    probe: Probe, store: Store, path: str | Path
) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    """Embed an audio file exactly as the probe's setup was indexed in ``store`` and return its features."""
    check_store(probe, store)
    cfg = probe.config
    emb = embed_file(path, store=store, setup_key=cfg["setup_key"])
    feats: dict[int, np.ndarray] = {}
    mask = None
    for li in probe.layers():
        if cfg["level"] == "window":
            feats[li] = emb.window_vectors[li][None]
            mask = np.ones((1, emb.window_vectors.shape[1]), dtype=bool)
        else:
            feats[li] = emb.pooled(cfg["pooling"])[li][None]
    return feats, mask


def predictions_json(probe: Probe, result: dict[str, dict], i: int = 0) -> dict:
    """The predictions of item ``i`` as plain JSON-able values (class probabilities keyed by class)."""
    out = {}
    for head, r in result.items():
        d: dict = {}
        pred = r["prediction"][i]
        if head == "classification":
            d["prediction"] = jsonable(pred)
            if "probabilities" in r:
                d["probabilities"] = {str(c): float(p) for c, p in zip(r["classes"], r["probabilities"][i])}
        elif head == "ordinal":
            d["prediction"] = float(pred)
            d["value"] = float(r["value"][i])
        elif head == "multilabel":
            vals = r.get("probabilities", r["prediction"])[i]
            d["scores"] = {str(c): float(v) for c, v in zip(r["classes"], vals)}
            if "probabilities" in r:
                d["present"] = [str(c) for c, v in zip(r["classes"], vals) if v >= 0.5]
        elif head == "regression":
            d["prediction"] = {str(t): float(v) for t, v in zip(r["targets"], np.atleast_1d(pred))}
        elif head == "ranking":
            d["score"] = float(pred)
        out[head] = d
    return out
