"""Benchmark of the search backends in ``indexers`` (not a test).

Data: ``--n`` random-but-clustered vectors (``--clusters`` Gaussian clusters, dim ``--dim``),
L2-normalised; queries are fresh draws from the same clusters. A metadata attribute ("recording")
is assigned at random with ``1 / --filter-frac`` values; the filtered searches allow one value
(5 % of the rows by default), uncorrelated with the clusters (the hard case for filtered ANN).

For each backend: build time, size (bytes of the saved FAISS files / resident numpy arrays /
LanceDB index files), p50/p95 single-query latency (k=10), recall@10 against exact search, and
recall@10 with the filter, both raw (ANN + selector/prefilter) and through ``search_filtered``.

Writes ``<out>/<name>.json`` and ``<out>/<name>.md`` with a machine description.

    .venv/bin/python bench/bench_search.py                   # 100k x 768
    .venv/bin/python bench/bench_search.py --n 1000000 --queries 100 --name search_1m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

BACKENDS = ("exact", "faiss-hnsw", "faiss-ivfpq", "lance-hnsw-sq", "lance-ivfpq")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="vectors in the table (try 1000000)")
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--spread", type=float, default=0.75, help="cluster noise norm relative to the centre")
    p.add_argument("--queries", type=int, default=200, help="queries for latency and recall")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--filter-frac", type=float, default=0.05)
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma list of {', '.join(BACKENDS)}")
    p.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="FAISS/BLAS threads (use 1 on a busy shared machine: OpenMP oversubscription is very slow)",
    )
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--hnsw-efc", type=int, default=40, help="FAISS HNSW efConstruction")
    p.add_argument("--hnsw-ef", type=int, default=128, help="FAISS HNSW efSearch")
    p.add_argument("--ivf-m", type=int, default=48, help="FAISS PQ sub-quantisers (bytes a code)")
    p.add_argument("--ivf-nprobe", type=int, default=32)
    p.add_argument("--ivf-kfactor", type=int, default=8)
    p.add_argument("--ivf-max-train", type=int, default=50_000)
    p.add_argument("--lance-efc", type=int, default=100, help="LanceDB HNSW ef_construction")
    p.add_argument("--lance-ef", type=int, default=128, help="LanceDB HNSW ef at query time")
    p.add_argument("--lance-hnsw-partitions", type=int, default=None)
    p.add_argument("--lance-sub-vectors", type=int, default=48)
    p.add_argument("--lance-nprobes", type=int, default=20)
    p.add_argument("--lance-refine", type=int, default=10, help="LanceDB IVF_PQ refine_factor (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None, help="where the LanceDB table and FAISS files go (temp)")
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--name", default="search", help="output file stem")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep rows of other backends from an existing <name>.json run with the same data settings",
    )
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- machine


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cores_visible"] = os.cpu_count()
    info["cores_usable"] = len(os.sched_getaffinity(0))
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    import faiss
    import lancedb
    import numpy

    info["versions"] = {
        "numpy": numpy.__version__,
        "faiss": faiss.__version__,
        "lancedb": lancedb.__version__,
    }
    return info


# ----------------------------------------------------------------------------- data


def make_data(n, dim, n_clusters, spread, n_queries, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(m):
        out = np.empty((m, dim), dtype=np.float32)
        for s in range(0, m, 50_000):
            e = min(m, s + 50_000)
            x = centres[rng.integers(0, n_clusters, e - s)]
            x = x + spread * rng.standard_normal((e - s, dim)).astype(np.float32) / np.sqrt(dim)
            out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    x = draw(n)
    q = draw(n_queries)
    keys = rng.permutation(np.arange(n, dtype=np.int64) * 7 + 3)  # stable keys, not row positions
    return x, keys, q, rng


def recall_at_k(truth, got):
    import numpy as np

    return float(np.mean([np.isin(t[t >= 0], g).mean() for t, g in zip(truth, got)]))


def latencies(fn, queries):
    """Per-query wall times (ms) of ``fn(query[None])``, after one warm-up call."""
    import numpy as np

    fn(queries[:1])
    out = []
    for i in range(queries.shape[0]):
        t = time.perf_counter()
        fn(queries[i : i + 1])
        out.append((time.perf_counter() - t) * 1e3)
    return np.asarray(out)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- main


def run(args) -> dict:
    import faiss
    import numpy as np

    from indexers import (
        ExactIndex,
        FaissHNSWIndex,
        FaissIVFPQIndex,
        LanceIndex,
        plan_filtered,
        search_filtered,
    )
    from indexers.choose import default_nlist, hnsw_bytes, ivfpq_bytes

    faiss.omp_set_num_threads(args.threads)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        raise SystemExit(f"unknown backends {bad}; valid: {', '.join(BACKENDS)}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_search_"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = machine()
    x, keys, q, rng = make_data(args.n, args.dim, args.clusters, args.spread, args.queries, args.seed)
    n_groups = max(1, round(1 / args.filter_frac))
    group = rng.integers(0, n_groups, args.n)
    allowed = np.sort(keys[group == 0])
    print(
        f"data {x.shape} queries {q.shape} filter {allowed.size} rows ({allowed.size / args.n:.1%})",
        flush=True,
    )

    exact = ExactIndex()
    exact.build(x, keys)
    truth = exact.search(q, args.k)[1]
    truth_f = exact.search(q, args.k, allowed=allowed)[1]
    k = args.k
    rows = []

    def measure(name, index, build_s, size_bytes, params, est_bytes=None):
        lat = latencies(lambda qq: index.search(qq, k), q)
        got = index.search(q, k)[1]
        raw_lat = latencies(lambda qq: index.search(qq, k, allowed=allowed), q)
        raw_f = index.search(q, k, allowed=allowed)[1]
        plan = plan_filtered(allowed.size, args.n, k)
        sf_lat = latencies(lambda qq: search_filtered(index, qq, k, allowed, n_total=args.n), q)
        sf = search_filtered(index, q, k, allowed, n_total=args.n)[1]
        row = {
            "backend": name,
            "params": params,
            "build_s": round(build_s, 2),
            "size_mib": round(size_bytes / 2**20, 1),
            "est_mib": None if est_bytes is None else round(est_bytes / 2**20, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p95_ms": round(float(np.percentile(lat, 95)), 3),
            "recall_at_k": round(recall_at_k(truth, got), 4),
            "filtered_raw_recall": round(recall_at_k(truth_f, raw_f), 4),
            "filtered_raw_p50_ms": round(float(np.percentile(raw_lat, 50)), 3),
            "filtered_policy": plan,
            "filtered_recall": round(recall_at_k(truth_f, sf), 4),
            "filtered_p50_ms": round(float(np.percentile(sf_lat, 50)), 3),
            "filtered_p95_ms": round(float(np.percentile(sf_lat, 95)), 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    if "exact" in backends:
        t = time.perf_counter()
        ex2 = ExactIndex()
        ex2.build(x, keys)
        measure("exact", ex2, time.perf_counter() - t, x.nbytes + keys.nbytes, {}, x.nbytes + keys.nbytes)
        del ex2

    if "faiss-hnsw" in backends:
        params = {"m": args.hnsw_m, "ef_construction": args.hnsw_efc, "ef_search": args.hnsw_ef}
        idx = FaissHNSWIndex(**params)
        t = time.perf_counter()
        idx.build(x, keys)
        build_s = time.perf_counter() - t
        idx.save(workdir / "hnsw")
        measure(
            "faiss-hnsw",
            idx,
            build_s,
            dir_bytes(workdir / "hnsw"),
            params,
            hnsw_bytes(args.n, args.dim, args.hnsw_m),
        )
        del idx

    if "faiss-ivfpq" in backends:
        nlist = default_nlist(args.n)
        params = {
            "nlist": nlist,
            "m": args.ivf_m,
            "nbits": 8,
            "nprobe": args.ivf_nprobe,
            "refine": True,
            "k_factor": args.ivf_kfactor,
            "max_train": args.ivf_max_train,
        }
        idx = FaissIVFPQIndex(**params)
        t = time.perf_counter()
        idx.build(x, keys)
        build_s = time.perf_counter() - t
        idx.save(workdir / "ivfpq")
        est = ivfpq_bytes(args.n, args.dim, nlist=nlist, m=args.ivf_m, refine=True)
        measure(
            "faiss-ivfpq+refine", idx, build_s, dir_bytes(workdir / "ivfpq"), {**params, **idx.effective}, est
        )
        del idx

    lance_kinds = [b for b in backends if b.startswith("lance")]
    if lance_kinds:
        import lancedb

        db = lancedb.connect(workdir / "lance")
        t = time.perf_counter()
        li = LanceIndex.from_arrays(db, "bench", x, keys, build=False)
        print(f"lance table written in {time.perf_counter() - t:.1f}s", flush=True)
        for kind in lance_kinds:
            if kind == "lance-hnsw-sq":
                params = {
                    "index_type": "IVF_HNSW_SQ",
                    "ef_construction": args.lance_efc,
                    "ef": args.lance_ef,
                    "num_partitions": args.lance_hnsw_partitions,
                }
            else:
                params = {
                    "index_type": "IVF_PQ",
                    "num_sub_vectors": args.lance_sub_vectors,
                    "nprobes": args.lance_nprobes,
                    "refine_factor": args.lance_refine or None,
                }
            idx = LanceIndex(li.table, **params)
            t = time.perf_counter()
            idx.build()
            build_s = time.perf_counter() - t
            size = sum(
                int(getattr(ix, "size_bytes", 0) or 0)
                for ix in idx.table.list_indices()
                if list(ix.columns) == ["vector"]
            )
            if not size:
                size = dir_bytes(workdir / "lance" / "bench.lance" / "_indices")
            measure(kind, idx, build_s, size, params)
            print(f"lance index stats: {idx.table.list_indices()}", flush=True)
        del li

    info["loadavg_end"] = os.getloadavg()
    return {
        "config": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "workdir")},
            "argv": sys.argv[1:],
        },
        "machine": info,
        "filter_rows": int(allowed.size),
        "total_s": round(time.perf_counter() - t0, 1),
        "results": rows,
    }


def to_markdown(res: dict) -> str:
    c, m = res["config"], res["machine"]
    lines = [
        f"# Search backends: {c['n']:,} x {c['dim']} (clustered, {c['clusters']} clusters), k={c['k']}",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores_usable')} usable cores ({m.get('cores_visible')} visible), "
        f"{m.get('ram_gib')} GiB RAM; threads {c['threads']}; load average at start "
        f"{', '.join(f'{v:.1f}' for v in m['loadavg_start'])}, at end {', '.join(f'{v:.1f}' for v in m['loadavg_end'])} "
        f"(shared machine: latencies are indicative). Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        "",
        f"{c['queries']} single queries (latency = one query at a time). Filter: {res['filter_rows']:,} rows "
        f"({c['filter_frac']:.0%}) allowed, uncorrelated with the clusters. *raw* = ANN with the filter as "
        "selector/prefilter; *policy* = `search_filtered` (exact over the allowed rows when the filter is selective).",
        "",
        "| backend | build s | size MiB | p50 ms | p95 ms | recall@10 | filtered raw recall | raw p50 ms "
        "| policy | filtered recall | filtered p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in res["results"]:
        lines.append(
            f"| {r['backend']} | {r['build_s']} | {r['size_mib']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['recall_at_k']:.3f} | {r['filtered_raw_recall']:.3f} | {r['filtered_raw_p50_ms']} | "
            f"{r['filtered_policy']} | {r['filtered_recall']:.3f} | {r['filtered_p50_ms']} |"
        )
    lines += ["", "Parameters:", ""]
    for r in res["results"]:
        lines.append(f"- {r['backend']}: `{json.dumps(r['params'])}`")
    lines += [
        "",
        f"Total run time {res['total_s']} s. Reproduce: `.venv/bin/python bench/bench_search.py {' '.join(c['argv'])}`",
        "",
    ]
    if res.get("merged_from"):
        prev = res["merged_from"]
        lines += [
            f"Rows of other backends come from an earlier run with the same data "
            f"(`{' '.join(prev.get('argv') or [])}`, {prev.get('total_s')} s).",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    # busy-waiting OpenMP threads collapse on an oversubscribed machine (FAISS PQ training 8x slower)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    res = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = out / f"{args.name}.json"
    if args.merge and previous.exists():
        old = json.loads(previous.read_text())
        same = ("n", "dim", "clusters", "spread", "queries", "k", "filter_frac", "seed")
        if all(old["config"].get(key) == res["config"].get(key) for key in same):
            done = {r["backend"] for r in res["results"]}
            kept = [r for r in old["results"] if r["backend"] not in done]
            res["results"] = kept + res["results"]
            res["merged_from"] = {"argv": old["config"].get("argv"), "total_s": old.get("total_s")}
            res["machine"]["loadavg_start_previous"] = old["machine"].get("loadavg_start")
        else:
            print("--merge: previous run used other data settings; not merged", flush=True)
    (out / f"{args.name}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
