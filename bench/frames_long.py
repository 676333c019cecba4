"""Long-excerpt test of bench/bench_frames.py: every fold's model (and madmom's tracker with the fold's decoder
settings) also decodes the long excerpts (60-120 s, starting inside other bars; ``bench/frames_renders.py
--long-test``) of the fold's held-out pieces. Nothing is tuned on them."""

from __future__ import annotations

import numpy as np
from frames_data import bench_items, madmom_acts, own_acts

from embedstore.frames.ensemble import blend
from embedstore.frames.evaluate import evaluate_clips
from embedstore.frames.inference import postprocess_item, predict_activations


class LongTest:
    """Collects the long-excerpt clips of each fold's test pieces; :meth:`metrics` scores them (CIs over pieces)."""

    def __init__(self, manifest, enc: str | None, *, num_models: int, beat_method: str = "madmom"):
        self.items = bench_items(manifest, enc or "bssl", num_models=num_models)
        self.beat_method = beat_method
        self._madmom: dict | None = None
        #: None: blend with madmom's 8-network mean; an encoder spec: with the madmom part of its features
        self.blend_source: str | None = None
        self.clips: dict[str, dict] = {}
        self.clips_blend: dict[str, dict] = {}

    @property
    def madmom(self) -> dict:
        if self._madmom is None:
            src = self.blend_source
            self._madmom = madmom_acts(self.items) if src is None else own_acts(self.items, src)
        return self._madmom

    def test_items(self, groups) -> list:
        return [it for it in self.items if it.group in groups]

    def on_fold(self, info: dict) -> None:
        """``cross_validate``'s fold hook: decode the long excerpts of the fold's test pieces."""
        res = info["result"]
        for it in self.test_items(info["test_groups"]):
            act = predict_activations(res.model, it.features, frame_rate=it.frame_rate)
            est = postprocess_item(
                act, frame_rate=it.frame_rate, thresholds=res.thresholds, beat_method=self.beat_method
            )
            self.clips[it.key] = {"ref": it.reference(), "est": est, "group": it.group}
            if info.get("blend") is not None:
                mix = blend(act, self.madmom[it.key], info["blend"]["weight"])
                est = postprocess_item(
                    mix, frame_rate=it.frame_rate, thresholds=res.thresholds, beat_method="madmom"
                )
                self.clips_blend[it.key] = {"ref": it.reference(), "est": est, "group": it.group}

    def add(self, it, est: dict) -> None:
        """Record a baseline's estimate for one long item."""
        self.clips[it.key] = {
            "ref": {"beats": it.targets.beats, "downbeats": it.targets.downbeats},
            "est": est,
            "group": it.group,
        }

    @staticmethod
    def score(clips: dict, *, n_boot: int, seed: int) -> dict | None:
        if not clips:
            return None
        cl = list(clips.values())
        return evaluate_clips(cl, groups=[c["group"] for c in cl], n_boot=n_boot, seed=seed)

    def metrics(self, *, n_boot: int, seed: int) -> tuple[dict | None, dict | None]:
        return self.score(self.clips, n_boot=n_boot, seed=seed), self.score(
            self.clips_blend, n_boot=n_boot, seed=seed
        )


def chance_long(manifest, *, period: float, num_models: int, n_boot: int, seed: int) -> dict | None:
    """The chance guess on the long excerpts: beats every ``period`` s from 0, every 4th a downbeat."""
    lt = LongTest(manifest, None, num_models=num_models)
    for it in lt.items:
        grid = np.arange(0.0, it.duration, period)
        lt.add(it, {"beats": grid, "downbeats": grid[::4]})
    return lt.score(lt.clips, n_boot=n_boot, seed=seed)
