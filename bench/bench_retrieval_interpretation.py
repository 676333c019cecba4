"""Interpretation retrieval and contrastive projections on ../shared/data (a bench script, not a test).

1. **Same pianist across pieces** (vienna-dev: 3 pianists x the same 4 excerpts; asap-dev: performer codes that
   recur across pieces). Every recording queries all others; relevant = the pianist's other recordings
   (``evaluate-retrieval --relevant-by performer_code``). Raw space vs interpretation mode (per-piece mean removed,
   i.e. ``search --mode interpretation --any-piece``) vs the exact chance level of a random ranking. Also reported
   with the candidates restricted to other pieces (``--across piece_id``), where same-piece neighbours cannot
   crowd the ranking.
2. **Same piece on asap-dev, raw vs projected.** A SupCon projection (linear head, 32 dims) is trained on the
   pieces of one half of the composers and evaluated on the pieces of the other half (``project --where`` then
   ``evaluate-retrieval --relevant-by piece_id --where``), both ways; no evaluated piece or composer was seen in
   training.
3. **PercePiano rating, raw vs projected.** A weighted-contrastive projection (Seshadri & Lerch: 5 bins, m = 0.5,
   linear head, 32 dims) on one rating column chosen before looking at results (``Timbre_Soft_Loud``), 5-fold CV
   grouped by player (each fold holds out one of the 5 players). A ridge probe is fitted on the raw and on the
   projected training vectors of each fold; R² of the pooled out-of-fold predictions with 95 % bootstrap CIs
   resampling players, and the paired difference.

All at recording level (mean of 10 s windows, hop 5 s; transkun hop 10 s), cosine similarity. Handcrafted
encoders and the learned ones whose weights ship in their wheels (basic-pitch, transkun: every layer in part 1,
the last layer in parts 2 and 3). Stores are the cached ``$EMBEDSTORE_CACHE/bench/learned-<encoder>-<set>.lance``
of ``bench/bench_stores.py`` (shared with the other benchmarks); transkun is never indexed here
(``--cached-only``).

Usage::

    python bench/bench_retrieval_interpretation.py [--encoders mfcc,logmel,bssl,chroma,basic-pitch,transkun] [--rating Timbre_Soft_Loud]

Writes bench/results/interpretation.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learned_encoders import commit  # noqa: E402
from bench_stores import cost_cell, open_store  # noqa: E402

from embedstore.config import cache_dir, shared_data_dir  # noqa: E402
from embedstore.evaluation.stats import bootstrap_ci  # noqa: E402
from embedstore.projections.persist import write_projection  # noqa: E402
from embedstore.projections.report import evaluate_projection  # noqa: E402
from embedstore.projections.retrieval import evaluate_store_retrieval  # noqa: E402
from embedstore.projections.train import TrainConfig, fit_on_store, load_training_data  # noqa: E402
from embedstore.store import Store, sql_in  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: Encoders too expensive to index inside this benchmark: used where ``bench/bench_stores.py`` has built them.
CACHED_ONLY: set[str] = {"transkun"}
WINDOW_S, HOP_S = 10.0, 5.0
COMPOSERS_A = (
    "Chopin",
    "Bach",
    "Haydn",
    "Mozart",
    "Scriabin",
)  # 15 pieces; the other 5 composers hold 15 too


from embedstore.utils import machine_description as machine  # noqa: E402


def open_indexed(data: Path, name: str, encoder: str) -> tuple[Store, str, dict | None] | None:
    """The cached store of ``encoder`` on the shared set ``name`` (``bench/bench_stores.py``, shared with the
    other benchmarks) as (store, setup key, indexing cost), or None for an encoder of ``CACHED_ONLY`` that has no
    completed store yet."""
    return open_store(name, encoder, cached_only=CACHED_ONLY)


def summary(res: dict) -> dict:
    m, c = res["mean"], res["chance"]
    return {
        "map": m["map"],
        "mrr": m["mrr"],
        "mr1": m["mr1"],
        "p@1": m["p@1"],
        "p@5": m["p@5"],
        "chance_map": c["map"],
        "chance_mrr": c["mrr"],
        "chance_p@1": c["p@1"],
        "n_queries": m["n_queries"],
        "n_items": res["n_items"],
    }


def part1(data: Path, encoders) -> list[dict]:
    rows = []
    for name in ("vienna-dev", "asap-dev"):
        for enc in encoders:
            got = open_indexed(data, name, enc)
            if got is None:
                print(f"  {name}/{enc}: no cached store (bench/bench_stores.py): skipped")
                continue
            st, key, cost = got
            spaces = sorted(
                (s for s in st.spaces(setup_key=key) if s.level == "recording" and s.pooling == "mean"),
                key=lambda s: s.layer,
            )
            for space, across in ((sp, a) for sp in spaces for a in (None, "piece_id")):
                aps = {}
                for mode in ("raw", "interpretation"):
                    r = evaluate_store_retrieval(
                        st, space=space, relevant_by="performer_code", mode=mode, across=across
                    )
                    aps[mode] = np.array([q["ap"] for q in r["per_query"]], dtype=float)
                    ok = np.isfinite(aps[mode])
                    row = {
                        "set": name,
                        "encoder": enc,
                        "layer": space.layer_name,
                        "n_layers": len(spaces),
                        "mode": mode,
                        "candidates": "other pieces only" if across else "all other recordings",
                        **summary(r),
                        "map_ci": bootstrap_ci(np.mean, aps[mode][ok], seed=0).as_dict(),
                        "cost": cost,
                    }
                    if mode == "interpretation":
                        ok = np.isfinite(aps["raw"]) & np.isfinite(aps["interpretation"])
                        row["map_difference_vs_raw"] = bootstrap_ci(
                            lambda a, b: float(np.mean(b - a)),
                            aps["raw"][ok],
                            aps["interpretation"][ok],
                            seed=0,
                        ).as_dict()
                    rows.append(row)
                    print(
                        f"  {name:10s} {enc:7s} {space.layer_name:16s} {row['candidates']:21s} {mode:14s} MAP {row['map']:.3f} "
                        f"(chance {row['chance_map']:.3f}) P@1 {row['p@1']:.3f}  n={row['n_queries']}"
                    )
    return rows


def part2(data: Path, encoders, *, seed: int = 0) -> list[dict]:
    rows = []
    for enc in encoders:
        got = open_indexed(data, "asap-dev", enc)
        if got is None:
            continue
        st, key, _ = got
        src = st.find_space(setup=key, level="recording", pooling="mean")  # the last layer
        rec = st.recordings()
        comp_a = sorted(set(rec["composer"]) & set(COMPOSERS_A))
        comp_b = sorted(set(rec["composer"]) - set(COMPOSERS_A))
        per_split = []
        for train_c, test_c, tag in ((comp_a, comp_b, "a"), (comp_b, comp_a, "b")):
            cfg = TrainConfig(loss="supcon", out_dim=32, seed=seed)
            where_tr, where_te = sql_in("composer", train_c), sql_in("composer", test_c)
            t0 = time.perf_counter()
            proj = fit_on_store(st, src, "piece_id", group_by="piece_id", where=where_tr, config=cfg)
            name = f"bench-supcon-piece-{tag}"
            folder = proj.save(cache_dir() / "bench" / "projections" / f"asap-{enc}-{name}")
            spaces = write_projection(st, proj, name=name, path=folder, source=src, overwrite=True)
            psp = next(s for s in spaces if s.level == "recording")
            t_train = time.perf_counter() - t0
            raw = evaluate_store_retrieval(st, space=src, relevant_by="piece_id", where=where_te)
            prj = evaluate_store_retrieval(st, space=psp, relevant_by="piece_id", where=where_te)
            per_q = [(a["ap"], b["ap"], a["label"]) for a, b in zip(raw["per_query"], prj["per_query"])]
            per_split.append(per_q)
            row = {
                "encoder": enc,
                "layer": src.layer_name,
                "train_composers": train_c,
                "test_composers": test_c,
                "projected_space": psp.space_id,
                "raw": summary(raw),
                "projected": summary(prj),
                "best_epoch": proj.history["best_epoch"],
                "train_s": round(t_train, 1),
                "cli": [
                    f"embedstore project --store S --encoder {key} --label piece_id --loss supcon "
                    f'--where "{where_tr}" --name {name}',
                    f"embedstore evaluate-retrieval --store S --relevant-by piece_id --space {src.space_id} "
                    f'--where "{where_te}"',
                    f"embedstore evaluate-retrieval --store S --relevant-by piece_id --space {psp.space_id} "
                    f'--where "{where_te}"',
                ],
            }
            rows.append(row)
            print(
                f"  asap-dev {enc:7s} piece retrieval on held-out composers {','.join(test_c)}: raw MAP "
                f"{row['raw']['map']:.3f}  projected MAP {row['projected']['map']:.3f}  "
                f"(chance {row['raw']['chance_map']:.3f})"
            )
        # both halves together (every piece evaluated once, by the projection that never saw it)
        allq = np.array([q[:2] for split in per_split for q in split], dtype=float)
        pieces = np.array([q[2] for split in per_split for q in split])
        diff = bootstrap_ci(
            lambda a, b: float(np.mean(b - a)), allq[:, 0], allq[:, 1], groups=pieces, seed=seed
        )
        rows.append(
            {
                "encoder": enc,
                "train_composers": "both halves",
                "test_composers": "all (held out)",
                "raw": {"map": float(allq[:, 0].mean())},
                "projected": {"map": float(allq[:, 1].mean())},
                "difference": diff.as_dict(),
                "n_queries": int(len(allq)),
            }
        )
    return rows


def part3(data: Path, encoders, rating: str, *, seed: int = 0) -> list[dict]:
    rows = []
    for enc in encoders:
        got = open_indexed(data, "percepiano-dev", enc)
        if got is None:
            continue
        st, key, _ = got
        src = st.find_space(setup=key, level="recording", pooling="mean")  # the last layer
        es, labels, groups = load_training_data(st, src, rating, group_by="performer_code")
        cfg = TrainConfig(loss="weighted-contrastive", out_dim=32, n_bins=5, margin=0.5, seed=seed)
        t0 = time.perf_counter()
        res = evaluate_projection(
            es.vectors, labels, groups, config=cfg, n_splits=5, seed=seed, label_column=rating
        )
        row = {
            "encoder": enc,
            "layer": src.layer_name,
            "rating": rating,
            "group_by": "performer_code",
            "n": res["n_items"],
            "folds": res["n_folds"],
            "probe_r2_raw": res["probe"]["raw"],
            "probe_r2_projected": res["probe"]["projected"],
            "probe_r2_difference": res["probe"]["difference"],
            "retrieval": res["retrieval"],
            "per_fold": res["folds"],
            "cv_s": round(time.perf_counter() - t0, 1),
        }
        rows.append(row)
        p = res["probe"]
        print(
            f"  percepiano {enc:7s} {rating}: ridge R² raw {p['raw']['value']:.3f} "
            f"[{p['raw']['ci_low']:.3f}, {p['raw']['ci_high']:.3f}]  projected {p['projected']['value']:.3f} "
            f"[{p['projected']['ci_low']:.3f}, {p['projected']['ci_high']:.3f}]  diff "
            f"{p['difference']['value']:+.3f} [{p['difference']['ci_low']:+.3f}, {p['difference']['ci_high']:+.3f}]"
        )
    return rows


def _enc(r: dict) -> str:
    """Encoder name, with the layer for a multi-layer encoder (parts 2 and 3 use its last layer)."""
    return r["encoder"] if r.get("layer", "L0") == "L0" else f"{r['encoder']} ({r['layer']})"


def _ci(d: dict) -> str:
    return f"{d['value']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"


def write(out: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "interpretation.json").write_text(json.dumps(out, indent=2, default=float) + "\n")
    L = [
        "# Interpretation retrieval and contrastive projections (../shared/data)",
        "",
        f"Command: `{out['command']}` (commit {out['commit']}); load average at the end "
        f"{out['load_avg'][0]:.1f}.  ",
        f"Machine: {out['machine']}. Recording level (mean of {WINDOW_S:g} s windows, hop {HOP_S:g} s), cosine. "
        "Chance = expected value under a uniformly random ranking of the same candidates. "
        "All audio is synthetic (one soundfont), so absolute numbers are optimistic.",
        "",
        "## 1. Same pianist across pieces (relevant = the pianist's other recordings)",
        "",
        "Raw = plain space; interpretation = per-piece mean removed (`search --mode interpretation --any-piece`). "
        "With all other recordings as candidates, raw MAP can fall below chance: the other pianists' "
        "performances of the query's piece fill the top ranks.",
        "MAP with a 95 % bootstrap CI over queries (queries are not independent: read them as rough); for "
        "interpretation mode also the paired difference to raw.",
        "",
        "| set | encoder | candidates | mode | MAP | interpretation − raw | P@1 | MRR | MR1 | chance MAP | "
        "queries |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    best = best_layers(out["same_pianist"])
    for r in out["same_pianist"]:
        if best.get((r["set"], r["encoder"]), r["layer"]) != r["layer"]:
            continue
        diff = _ci(r["map_difference_vs_raw"]) if "map_difference_vs_raw" in r else ""
        enc = (
            r["encoder"] if r["n_layers"] == 1 else f"{r['encoder']} ({r['layer']}, best of {r['n_layers']})"
        )
        L.append(
            f"| {r['set']} | {enc} | {r['candidates']} | {r['mode']} | {_ci(r['map_ci'])} | {diff} | "
            f"{r['p@1']:.3f} | {r['mrr']:.3f} | {r['mr1']:.2f} | {r['chance_map']:.3f} | {r['n_queries']} |"
        )
    L += [
        "",
        "### Every layer of the multi-layer (learned) encoders, and the cost of every encoder",
        "",
        "Best layer above = the highest interpretation-mode MAP with all other recordings as candidates, chosen "
        "on these queries (optimistic by the choice). MAP per layer: all candidates raw / interpretation, other "
        "pieces raw / interpretation. Cost = indexing wall / CPU seconds per hour of audio on this machine when "
        "the cached store was built (`bench/bench_stores.py`; transkun at hop 10 s to fit the CPU budget).",
        "",
        "| set | encoder | layer | all: raw | all: interpretation | other pieces: raw | other pieces: "
        "interpretation | chance MAP (all / other) | cost (s / CPU s per hour of audio) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    seen: dict = {}
    for r in out["same_pianist"]:
        seen.setdefault((r["set"], r["encoder"], r["layer"]), {})[(r["candidates"], r["mode"])] = r
    for (set_, enc, layer), d in seen.items():
        a, b = d.get(("all other recordings", "raw")), d.get(("other pieces only", "raw"))
        cells = [
            f"{d[(c, m)]['map']:.3f}" if (c, m) in d else "–"
            for c in ("all other recordings", "other pieces only")
            for m in ("raw", "interpretation")
        ]
        L.append(
            f"| {set_} | {enc} | {layer} | {' | '.join(cells)} | "
            f"{a['chance_map'] if a else float('nan'):.3f} / {b['chance_map'] if b else float('nan'):.3f} | "
            f"{cost_cell(a.get('cost') if a else None)} |"
        )
    L += [
        "",
        "## 2. asap-dev same-piece retrieval: raw vs SupCon projection (pieces of held-out composers)",
        "",
        "| encoder | trained on | evaluated on | raw MAP | projected MAP | chance MAP | queries |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in out["asap_piece_projection"]:
        if "difference" in r:
            L.append(
                f"| {_enc(r)} | both halves | every piece once (held out) | {r['raw']['map']:.3f} | "
                f"{r['projected']['map']:.3f} (diff {_ci(r['difference'])}) | | {r['n_queries']} |"
            )
        else:
            L.append(
                f"| {_enc(r)} | {', '.join(r['train_composers'])} | {', '.join(r['test_composers'])} | "
                f"{r['raw']['map']:.3f} | {r['projected']['map']:.3f} | {r['raw']['chance_map']:.3f} | "
                f"{r['raw']['n_queries']} |"
            )
    L += [
        "",
        "## 3. percepiano-dev: weighted-contrastive projection on one rating, probe R² raw vs projected",
        "",
        f"Rating `{out['rating']}` (chosen before looking at results); 5-fold CV grouped by player (one player "
        "held out per fold); ridge probe of `embedstore.probes.linear`; 95 % bootstrap CIs resampling the 5 "
        "players (coarse). Two manifest rows have byte-identical audio (`Schubert_D960_mv2_16bars_1_03`, "
        "`Schubert_D960_mv2_8bars_1_05`), which the content-addressed store keeps once: n = 226.",
        "",
        "| encoder | n | R² raw | R² projected | projected − raw | retrieval MAP raw | projected | chance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in out["percepiano_projection"]:
        rt = r.get("retrieval") or {}
        L.append(
            f"| {_enc(r)} | {r['n']} | {_ci(r['probe_r2_raw'])} | {_ci(r['probe_r2_projected'])} | "
            f"{_ci(r['probe_r2_difference'])} | "
            + (
                f"{_ci(rt['map_raw'])} | {_ci(rt['map_projected'])} | {rt['map_chance']:.3f} |"
                if rt
                else "– | – | – |"
            )
        )
    L += ["", "## Findings", ""] + [f"- {f}" for f in out.get("findings", [])]
    L += [
        "",
        f"Total time {out['total_s']:.0f} s. Reproduce: `python bench/bench_retrieval_interpretation.py "
        f"--encoders {','.join(out['encoders'])} --rating {out['rating']}`.",
    ]
    (RESULTS / "interpretation.md").write_text("\n".join(L) + "\n")


def best_layers(rows: list[dict]) -> dict:
    """(set, encoder) -> the layer with the highest interpretation-mode MAP over all other recordings."""
    best: dict = {}
    for r in rows:
        if r["candidates"] == "all other recordings" and r["mode"] == "interpretation":
            k = (r["set"], r["encoder"])
            if k not in best or r["map"] > best[k][1]:
                best[k] = (r["layer"], r["map"])
    return {k: v[0] for k, v in best.items()}


def findings(out: dict) -> list[str]:
    f = []
    for name in ("vienna-dev", "asap-dev"):
        rows = [
            r for r in out["same_pianist"] if r["set"] == name and r["candidates"] == "all other recordings"
        ]
        for enc in out["encoders"]:
            lay = best_layers(rows).get((name, enc))
            mine = [r for r in rows if r["encoder"] == enc and r["layer"] == lay]
            raw = next((r for r in mine if r["mode"] == "raw"), None)
            itp = next((r for r in mine if r["mode"] == "interpretation"), None)
            if raw and itp:
                f.append(
                    f"{name} {enc} ({lay}): same-pianist MAP raw {raw['map']:.3f}, interpretation {itp['map']:.3f}, "
                    f"chance {raw['chance_map']:.3f}."
                )
    for r in out["asap_piece_projection"]:
        if "difference" in r:
            d = r["difference"]
            verdict = "helps" if d["ci_low"] > 0 else "hurts" if d["ci_high"] < 0 else "no clear difference"
            f.append(
                f"asap-dev {r['encoder']} held-out same-piece MAP raw {r['raw']['map']:.3f} vs SupCon-projected "
                f"{r['projected']['map']:.3f} ({verdict}; diff CI [{d['ci_low']:.3f}, {d['ci_high']:.3f}])."
            )
    for r in out["percepiano_projection"]:
        d = r["probe_r2_difference"]
        verdict = "helps" if d["ci_low"] > 0 else "hurts" if d["ci_high"] < 0 else "no clear difference"
        f.append(
            f"percepiano-dev {r['encoder']} {r['rating']}: probe R² raw {r['probe_r2_raw']['value']:.3f} vs "
            f"projected {r['probe_r2_projected']['value']:.3f} ({verdict}; diff CI [{d['ci_low']:.3f}, "
            f"{d['ci_high']:.3f}])."
        )
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoders", default="mfcc,logmel,bssl,chroma,basic-pitch,transkun")
    ap.add_argument("--rating", default="Timbre_Soft_Loud")
    ap.add_argument("--parts", default="1,2,3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cached-only",
        default="transkun",
        help="encoders used only where bench/bench_stores.py has built their store (never indexed here)",
    )
    a = ap.parse_args()
    CACHED_ONLY.clear()
    CACHED_ONLY.update(x for x in a.cached_only.split(",") if x)
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared data not found (set EMBEDSTORE_SHARED)")
    encoders = a.encoders.split(",")
    parts = set(a.parts.split(","))
    t0 = time.perf_counter()
    out: dict = {
        "command": "python bench/bench_retrieval_interpretation.py " + " ".join(sys.argv[1:]),
        "commit": commit(),
        "machine": machine(),
        "encoders": encoders,
        "rating": a.rating,
        "window_s": WINDOW_S,
        "hop_s": HOP_S,
        "same_pianist": [],
        "asap_piece_projection": [],
        "percepiano_projection": [],
    }
    if "1" in parts:
        print("1. same pianist across pieces")
        out["same_pianist"] = part1(data, encoders)
    if "2" in parts:
        print("2. asap-dev same piece: raw vs projected (held-out composers)")
        out["asap_piece_projection"] = part2(data, encoders, seed=a.seed)
    if "3" in parts:
        print(f"3. percepiano-dev {a.rating}: weighted-contrastive projection, grouped CV")
        out["percepiano_projection"] = part3(data, encoders, a.rating, seed=a.seed)
    out["total_s"] = time.perf_counter() - t0
    out["load_avg"] = list(os.getloadavg())
    out["findings"] = findings(out)
    write(out)
    print("\n".join(out["findings"]))
    print(f"wrote {RESULTS / 'interpretation.md'} and .json ({out['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
