"""The dynamics change-point detector (embedstore.frames.changepoints) on synthetic velocity curves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedstore.errors import ConfigError
from embedstore.frames.changepoint_fit import fit_change_detector
from embedstore.frames.changepoints import (
    ChangePointDetector,
    changes_from_velocity,
    load_change_detector,
    velocity_features,
)
from embedstore.frames.evaluate import change_point_f1

FR = 50.0


def _steps(levels_s: list[tuple[float, float]]) -> np.ndarray:
    """A per-frame velocity curve from (seconds, velocity) runs."""
    return np.concatenate([np.full(int(d * FR), v, dtype=np.float64) for d, v in levels_s])


def test_a_step_across_an_edge_is_one_change_at_the_step():
    v = _steps([(10, 50.0), (10, 78.0), (10, 78.0)])  # mp -> f at 10 s
    cps = changes_from_velocity(v, frame_rate=FR, hysteresis=3.0)
    assert len(cps) == 1 and abs(cps[0] - 10.0) <= 0.5


def test_hysteresis_suppresses_wobble_around_an_edge():
    t = np.arange(int(30 * FR)) / FR
    v = 60.0 + 2.0 * np.sin(2 * np.pi * t / 4.0)  # wobbles +-2 around the mp/mf edge (60)
    assert len(changes_from_velocity(v, frame_rate=FR, hysteresis=0.0, median=1)) >= 10
    assert len(changes_from_velocity(v, frame_rate=FR, hysteresis=3.0)) == 0


def test_features_have_the_documented_shape_and_reject_bad_input():
    x = np.abs(np.random.default_rng(0).normal(size=(200, 23))).astype(np.float32)
    f = velocity_features(x, frame_rate=FR)
    assert f.shape == (200, 3 * 23 + 2) and f.dtype == np.float32
    assert np.all(f[:, -1] == 1.0)
    with pytest.raises(ConfigError):
        velocity_features(x[:, 0], frame_rate=FR)


def _synthetic_clips(n: int, seed: int):
    """Loudness that follows velocity (plus noise), with a level change or two per clip."""
    rng = np.random.default_rng(seed)
    loud, vel, refs, groups = [], [], [], []
    for i in range(n):
        runs = [(rng.uniform(6, 12), rng.choice([42.0, 54.0, 66.0, 78.0])) for _ in range(3)]
        v = _steps(runs)
        gain = (v[:, None] / 127.0) * rng.uniform(0.8, 1.2, size=(1, 23))
        x = np.log1p(gain * 5.0 + 0.05 * rng.random((len(v), 23))).astype(np.float32)
        loud.append(x)
        vel.append(v.astype(np.float32))
        refs.append(changes_from_velocity(v, frame_rate=FR, hysteresis=3.0))
        groups.append(f"piece{i % 6}")
    return loud, vel, refs, groups


@pytest.mark.parametrize("regressor", ["ridge", "mlp"])
def test_fitted_detector_finds_the_changes_of_unseen_clips(regressor):
    pytest.importorskip("torch")
    loud, vel, refs, groups = _synthetic_clips(24, seed=0)
    det = fit_change_detector(loud, vel, refs, groups, frame_rate=FR, regressor=regressor, epochs=4)
    assert det.hysteresis in (1.0, 2.0, 3.0, 5.0, 8.0) and det.info["clips"] == 24
    t_loud, t_vel, t_refs, _ = _synthetic_clips(6, seed=1)
    pred = det.predict_velocity(t_loud[0])
    assert np.corrcoef(pred, t_vel[0])[0, 1] > 0.9
    f1 = np.mean([change_point_f1(r, det.change_points(x)) for x, r in zip(t_loud, t_refs)])
    grid = np.mean([change_point_f1(r, np.arange(1.0, len(x) / FR, 1.0)) for x, r in zip(t_loud, t_refs)])
    assert f1 > 0.7 and f1 > grid + 0.4, (f1, grid)


def test_save_and_load_give_the_same_change_points_without_pickle(tmp_path):
    pytest.importorskip("torch")
    loud, vel, refs, groups = _synthetic_clips(12, seed=2)
    det = fit_change_detector(loud, vel, refs, groups, frame_rate=FR, regressor="mlp", epochs=2)
    det.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changepoints.json", "changepoints.safetensors"]
    cfg = json.loads((tmp_path / "changepoints.json").read_text())
    assert cfg["regressor"] == "mlp" and cfg["hysteresis"] == det.hysteresis
    back = load_change_detector(tmp_path)
    assert isinstance(back, ChangePointDetector)
    np.testing.assert_allclose(back.predict_velocity(loud[0]), det.predict_velocity(loud[0]), rtol=1e-5)
    np.testing.assert_array_equal(back.change_points(loud[0]), det.change_points(loud[0]))
    assert load_change_detector(tmp_path / "none") is None
    (tmp_path / "changepoints.json").write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        load_change_detector(tmp_path)


def test_wrong_feature_width_is_a_clear_error():
    pytest.importorskip("torch")
    loud, vel, refs, groups = _synthetic_clips(8, seed=3)
    det = fit_change_detector(loud, vel, refs, groups, frame_rate=FR, regressor="ridge")
    with pytest.raises(ConfigError, match="expects"):
        det.predict_velocity(loud[0][:, :10])
    with pytest.raises(ConfigError, match="regressor"):
        fit_change_detector(loud, vel, refs, groups, frame_rate=FR, regressor="svm")
