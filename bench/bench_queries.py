"""Benchmark: many queries in one `embedstore search` call vs one CLI call per query (issue 9, section 3).

A store of ``--n`` generated recordings (``embedstore.synth``: pieces x performers, 2 bars each) indexed with
``chroma`` (4 s windows, 2 s hop) is built once under ``$EMBEDSTORE_CACHE/bench`` (or ``--store``/``--audio``).
Then:

- one call ``embedstore search --store S --all -k 10 --json``: every recording queries the rest (N queries);
- ``--sample`` separate calls ``embedstore search --store S --id <id> -k 10 --exclude-same-recording --json``,
  the way a user scripts N queries today; their mean is scaled to N calls (stated as such in the result);
- in one warm Python process: :func:`embedstore.search.batch.search_many` over all N vs a loop of
  :func:`embedstore.search.search` (no start-up cost in either), and whether both give the same hits.

Writes ``<out>/queries.json`` and ``<out>/queries.md`` with the command, the machine, the load and the commit.

    .venv/bin/python bench/bench_queries.py               # n=1000, 20 separate calls
    .venv/bin/python bench/bench_queries.py --n 200 --sample 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from embedstore import config  # noqa: E402
from embedstore.utils import machine_description  # noqa: E402


def bench_store(n: int, *, store: Path | None = None, audio: Path | None = None) -> tuple[Path, Path]:
    """A chroma store of ``n`` generated recordings (built once and reused); returns (store, audio folder)."""
    from embedstore.pipeline import index_paths
    from embedstore.synth import make_collection

    n_perf = 25 if n >= 100 else 5
    n_pieces = max(1, n // n_perf)
    base = config.cache_dir() / "bench" / f"queries-{n_pieces * n_perf}"
    audio = audio or base / "collection" / "audio"
    store = store or base / "store.lance"
    if not audio.is_dir():
        print(f"generating {n_pieces} pieces x {n_perf} performers ...", flush=True)
        make_collection(audio.parent, n_pieces=n_pieces, n_performers=n_perf, n_bars=2, seed=2)
    if not store.exists():
        print(f"indexing {audio} -> {store} ...", flush=True)
        index_paths(
            audio,
            store,
            "chroma",
            metadata=audio.parent / "manifest.csv",
            window_s=4.0,
            hop_s=2.0,
            progress=False,
        )
    return store, audio


def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` when files are modified)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "embedstore.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"embedstore {' '.join(args)} failed: {res.stderr[-2000:]}")
    return dt, res.stdout


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="recordings in the store (= queries of --all)")
    ap.add_argument("--sample", type=int, default=20, help="separate CLI calls timed (scaled to n)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--audio", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args(argv)
    store, _ = bench_store(a.n, store=a.store, audio=a.audio)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    load_start = os.getloadavg()

    from embedstore.search import search
    from embedstore.search.batch import search_many
    from embedstore.store import Store

    st = Store(store, create=False)
    ids = list(st.recordings()["recording_id"])
    n = len(ids)

    _cli(["search", "--store", str(store), "--id", ids[0], "-k", str(a.k), "--json"], env)  # warm caches
    t_all, out = _cli(["search", "--store", str(store), "--all", "-k", str(a.k), "--json"], env)
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert len(lines) == n, (len(lines), n)

    rng = np.random.default_rng(0)
    sample = [ids[i] for i in rng.choice(n, size=min(a.sample, n), replace=False)]
    sep = []
    for rid in sample:
        dt, out1 = _cli(
            [
                "search",
                "--store",
                str(store),
                "--id",
                rid,
                "-k",
                str(a.k),
                "--exclude-same-recording",
                "--json",
            ],
            env,
        )
        sep.append(dt)
    sep_arr = np.array(sep)
    scaled = float(sep_arr.mean()) * n

    # warm, in-process: the batched path vs a loop over single searches
    search_many(st, all_recordings=True, k=a.k)  # warm load_space / index
    t0 = time.perf_counter()
    batch = search_many(st, all_recordings=True, k=a.k)
    t_lib_batch = time.perf_counter() - t0
    loop_ids = ids[: min(n, 200)]
    t0 = time.perf_counter()
    singles = [search(st, recording_id=r, k=a.k, exclude_same_recording=True) for r in loop_ids]
    t_lib_loop = (time.perf_counter() - t0) / len(loop_ids) * n
    by_id = {r.query["recording_id"]: [h.recording_id for h in r.hits] for r in batch}
    agree = float(
        np.mean([by_id[s.query["recording_id"]] == [h.recording_id for h in s.hits] for s in singles])
    )
    load_end = os.getloadavg()

    result = {
        "n_recordings": n,
        "k": a.k,
        "cli_all_one_call_s": round(t_all, 3),
        "cli_all_per_query_ms": round(t_all / n * 1000, 2),
        "cli_separate_calls_timed": len(sample),
        "cli_separate_call_mean_s": round(float(sep_arr.mean()), 3),
        "cli_separate_call_p10_p90_s": [
            round(float(np.percentile(sep_arr, 10)), 3),
            round(float(np.percentile(sep_arr, 90)), 3),
        ],
        "cli_separate_calls_scaled_to_n_s": round(scaled, 1),
        "speedup_one_call_vs_separate": round(scaled / t_all, 1),
        "library_batch_s": round(t_lib_batch, 3),
        "library_loop_s_scaled_to_n": round(t_lib_loop, 3),
        "library_loop_timed_queries": len(loop_ids),
        "library_speedup": round(t_lib_loop / t_lib_batch, 1),
        "batch_backend": batch[0].backend,
        "batch_equals_single_top_k": agree,
        "store": str(store),
        "machine": machine_description(),
        "load_start": load_start,
        "load_end": load_end,
        "commit": git_commit(),
        "command": "python bench/bench_queries.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "queries.json").write_text(json.dumps(result, indent=2) + "\n")
    load = ", ".join(f"{x:.1f}" for x in load_start) + " at start, " + ", ".join(f"{x:.1f}" for x in load_end)
    md = [
        f"# {n} queries: one `search --all` call vs one CLI call per query",
        "",
        f"Command: `{result['command'].strip()}`; commit {result['commit']}.",
        f"Machine: {result['machine']}; load average {load} at end (a shared machine: times are indicative).",
        f"Store: {n} generated recordings (2 bars each) indexed with chroma, 4 s windows, 2 s hop; k = {a.k}; "
        f"backend `{result['batch_backend']}`.",
        "",
        "| how | wall s for all queries | per query |",
        "|---|---:|---:|",
        f"| one call: `embedstore search --all -k {a.k} --json` | {t_all:.2f} | {t_all / n * 1000:.1f} ms |",
        f"| separate calls: `embedstore search --id ID -k {a.k} --exclude-same-recording --json` "
        f"(**{len(sample)} calls timed, mean scaled x{n / len(sample):.0f}**) | {scaled:.0f} | "
        f"{sep_arr.mean():.2f} s (p10 {result['cli_separate_call_p10_p90_s'][0]}, "
        f"p90 {result['cli_separate_call_p10_p90_s'][1]}) |",
        f"| library, warm process: `search_many(all_recordings=True)` | {t_lib_batch:.2f} | "
        f"{t_lib_batch / n * 1000:.2f} ms |",
        f"| library, warm process: loop of `search()` ({len(loop_ids)} timed, scaled to {n}) | {t_lib_loop:.2f} | "
        f"{t_lib_loop / n * 1000:.2f} ms |",
        "",
        f"One call answers all {n} queries **{result['speedup_one_call_vs_separate']}x** faster than separate calls; "
        f"in a warm process the batched path is {result['library_speedup']}x a loop of single searches. "
        f"Batched top-{a.k} equals the single-query top-{a.k} for {agree:.0%} of the {len(loop_ids)} compared "
        "queries.",
        "",
        "What a separate call pays is start-up: the interpreter, Typer, `lance`/pyarrow/pandas imports and opening "
        "the store, then the search itself (see `bench/results/startup.md` for the break-down).",
        "",
    ]
    (a.out / "queries.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
