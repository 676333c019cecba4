"""Search backends at scale (default 1M x 768) on the synthetic catalogue (not a test).

Data: :mod:`bench.catalogue` (hierarchical composer > piece > performer > recording windows,
cached as .npy under ``embedstore.config.cache_dir()``); queries are windows of held-out
recordings; ground truth is exact inner-product search.

Every backend runs in two child processes so each peak RSS is its own: ``build`` (train on a
sample, add in chunks, save) and ``search`` (load the saved index, sweep the search knob,
measure). For each backend: build time, bytes on disk, build peak RSS, resident size of the
loaded index, the recall@10 sweep, and at the cheapest setting with recall@10 >= ``--target``:
single-thread queries/s (one batch of all queries on one thread) and p50/p99 latency (one
query at a time).

    nice -n 10 .venv/bin/python bench/bench_search.py --n 1000000          # -> results/search_1m.*
    nice -n 10 .venv/bin/python bench/bench_search.py --n 200000 --name search_200k
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

BACKENDS = (
    "exact",
    "faiss-ivf",
    "faiss-ivf-sq8",
    "faiss-ivfpq",
    "faiss-hnsw",
    "lance-ivfpq",
    "lance-hnsw-sq",
)
SWEEPS: dict[str, list] = {
    "exact": [None],
    "faiss-ivf": [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128],
    "faiss-ivf-sq8": [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128],
    "faiss-ivfpq": [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128],
    "faiss-hnsw": [16, 24, 32, 48, 64, 96, 128, 192, 256, 384],
    "lance-ivfpq": [[10, None], [20, None], [40, None], [20, 5], [40, 5], [40, 10], [80, 10], [160, 10]],
    "lance-hnsw-sq": [[1, 16], [1, 32], [1, 64], [1, 128], [2, 128], [4, 256], [8, 256]],
}
KNOB = {
    "exact": "-",
    "faiss-ivf": "nprobe",
    "faiss-ivf-sq8": "nprobe",
    "faiss-ivfpq": "nprobe",
    "faiss-hnsw": "efSearch",
    "lance-ivfpq": "[nprobes, refine_factor]",
    "lance-hnsw-sq": "[nprobes, ef]",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--exact-queries", type=int, default=100, help="queries timed for the exact scan")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=0.95, help="recall@k of the operating point")
    p.add_argument("--backends", default="exact,faiss-ivf,faiss-ivf-sq8,faiss-ivfpq,lance-ivfpq")
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--hnsw-efc", type=int, default=40)
    p.add_argument("--hnsw-storage", default="sq8", help="HNSW vector storage: flat, sq8, fp16")
    p.add_argument("--max-train", type=int, default=100_000)
    p.add_argument("--nlist", type=int, default=None, help="faiss-ivf lists (default: the index's rule)")
    p.add_argument("--workdir", default=None, help="saved indexes (default: cache_dir()/bench_search)")
    p.add_argument("--rebuild", action="store_true", help="rebuild indexes already saved in workdir")
    p.add_argument(
        "--readd",
        action="store_true",
        help="faiss-ivf: keep the saved training, re-add the rows (new assignment)",
    )
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--name", default=None, help="output stem (default search_1m / search_<n/1000>k)")
    p.add_argument("--merge", action="store_true", help="keep other backends' rows of an earlier run")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from the per-backend JSON already in workdir",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


from measure import dir_bytes, recall_at_k, rss_mib  # noqa: E402


def workdir_of(args) -> Path:
    from embedstore.config import cache_dir

    base = Path(args.workdir) if args.workdir else cache_dir() / "bench_search"
    d = base / f"n{args.n}_d{args.dim}_s{args.seed}"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ----------------------------------------------------------------------------- children


def make_faiss(backend: str, args, n: int):
    from indexers import FaissHNSWIndex, FaissIVFPQIndex
    from indexers.choose import default_nlist
    from indexers.faiss_ivf import FaissIVFIndex

    if backend == "faiss-ivf":
        return FaissIVFIndex(nlist=args.nlist, refine="fp16", max_train=args.max_train, progress=True)
    if backend == "faiss-ivf-sq8":
        return FaissIVFIndex(nlist=args.nlist, refine="none", max_train=args.max_train, progress=True)
    if backend == "faiss-ivfpq":
        return FaissIVFPQIndex(nlist=default_nlist(n), m=48, k_factor=8, max_train=args.max_train)
    return FaissHNSWIndex(m=args.hnsw_m, ef_construction=args.hnsw_efc, storage=args.hnsw_storage)


def child_build(backend: str, args, wd: Path) -> dict:
    import catalogue
    import numpy as np

    data = catalogue.load(args.n, args.dim, args.queries, args.seed)
    x = data["vectors"]  # memory-mapped
    keys = np.arange(args.n, dtype=np.int64)
    out = wd / backend
    t = time.perf_counter()
    info: dict = {}
    if backend.startswith("lance"):
        import lancedb
        import pyarrow as pa

        from indexers import LanceIndex

        db = lancedb.connect(wd / "lance")
        table = backend.replace("-", "_")
        if table not in db.table_names():
            tbl = None
            for s in range(0, args.n, 100_000):
                e = min(args.n, s + 100_000)
                flat = pa.array(np.asarray(x[s:e]).reshape(-1), type=pa.float32())
                batch = pa.table(
                    {
                        "row_key": pa.array(keys[s:e]),
                        "vector": pa.FixedSizeListArray.from_arrays(flat, args.dim),
                    }
                )
                tbl = db.create_table(table, batch) if tbl is None else (tbl.add(batch) or tbl)
            info["table_write_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
        kind = "IVF_PQ" if backend == "lance-ivfpq" else "IVF_HNSW_SQ"
        idx = LanceIndex(db.open_table(table), index_type=kind, key_index=False)
        idx.build()
        build_s = time.perf_counter() - t
        size = sum(int(getattr(ix, "size_bytes", 0) or 0) for ix in idx.table.list_indices())
        info["index_stats"] = str(idx.table.list_indices())
        (wd / f"{backend}.built").write_text("ok\n")
    elif backend == "faiss-ivf-sq8" and (wd / "faiss-ivf" / "index.json").exists():
        idx = sq8_from_full(wd)  # same centroids and codes as faiss-ivf, without the fp16 copy
        build_s = json.loads((wd / "faiss-ivf.build.json").read_text())["build_s"]
        info["derived_from"] = "faiss-ivf (same training and codes; build time is faiss-ivf's)"
        idx.save(out)
        size = dir_bytes(out)
        info["params"] = idx.params
    elif backend == "faiss-ivf" and args.readd and (out / "index.json").exists():
        from indexers import load_index

        old = json.loads((wd / "faiss-ivf.build.json").read_text())
        idx = load_index(out)
        idx.readd(x)
        train_s = old["stages"]["train_s"]
        build_s = train_s + idx.build_times["add_s"]
        idx.build_times["train_s"] = train_s
        info["readd"] = (
            "training (k-means, SQ) kept from the first build; rows re-added with exact assignment"
        )
        info["stages"], info["params"] = idx.build_times, idx.params
        idx.save(out)
        size = dir_bytes(out)
    else:
        idx = make_faiss(backend, args, args.n)
        idx.build(x, keys)
        build_s = time.perf_counter() - t
        idx.save(out)
        size = dir_bytes(out)
        info["stages"] = getattr(idx, "build_times", {})
        info["params"] = idx.params
    return {
        "build_s": round(build_s, 1),
        "disk_mib": round(size / 2**20, 1),
        "build_peak_rss_mib": rss_mib()[1],
        **info,
    }


def sq8_from_full(wd: Path):
    """The faiss-ivf index of ``wd`` without its re-ranking copy (IVF-SQ8 only)."""
    import faiss

    from indexers import load_index
    from indexers.faiss_ivf import FaissIVFIndex

    full = load_index(wd / "faiss-ivf")
    assert isinstance(full, FaissIVFIndex)
    idx = FaissIVFIndex(**{**full.params, "refine": "none"})
    idx._index = faiss.clone_index(full._ivf())
    idx._map, idx.dim, idx.effective = full._map, full.dim, full.effective
    return idx


def _searcher(backend: str, idx, knob):
    if backend == "exact":
        return lambda q: idx.search(q, 10)
    if backend.startswith("faiss-ivf"):
        return lambda q: idx.search_nprobe(q, 10, nprobe=knob)
    if backend == "faiss-hnsw":
        return lambda q: idx.search_ef(q, 10, ef_search=knob)

    def lance(q):
        if backend == "lance-ivfpq":
            idx.nprobes, idx.refine_factor = knob
        else:
            idx.nprobes, idx.ef = knob
        return idx.search(q, 10)

    return lance


def child_search(backend: str, args, wd: Path) -> dict:
    import catalogue
    import numpy as np

    data = catalogue.load(args.n, args.dim, args.queries, args.seed)
    q = np.ascontiguousarray(data["queries"])
    truth = catalogue.truth(args.n, args.dim, args.queries, args.seed, args.k)
    del data
    before = rss_mib()[0]
    t = time.perf_counter()
    if backend == "exact":
        from indexers import ExactIndex

        idx = ExactIndex()
        x = np.load(catalogue.catalogue_dir(args.n, args.dim, args.queries, args.seed) / "vectors.npy")
        idx.build(x, np.arange(args.n, dtype=np.int64))
        del x
        nq = args.exact_queries
        q, truth = q[:nq], truth[:nq]
    elif backend.startswith("lance"):
        import lancedb

        from indexers import LanceIndex

        table = backend.replace("-", "_")
        idx = LanceIndex(lancedb.connect(wd / "lance").open_table(table), key_index=False)
    else:
        from indexers import load_index

        idx = load_index(wd / backend)
    load_s = time.perf_counter() - t
    index_rss = rss_mib()[0] - before
    sweep, chosen = [], -1
    for knob in SWEEPS[backend]:
        fn = _searcher(backend, idx, knob)
        fn(q[:5])
        t, c = time.perf_counter(), time.process_time()
        got = fn(q)[1]
        batch_s, cpu_s = time.perf_counter() - t, time.process_time() - c
        rec = recall_at_k(truth, got)
        sweep.append(
            {
                "knob": knob,
                "recall": round(rec, 4),
                "batch_qps": round(q.shape[0] / batch_s, 1),
                "cpu_qps": round(q.shape[0] / max(cpu_s, 1e-9), 1),
            }
        )
        print(f"{backend} {KNOB[backend]}={knob} recall {rec:.4f} {sweep[-1]}", flush=True)
        if rec >= args.target and chosen < 0:
            chosen = len(sweep) - 1
            lat, cpu = [], []
            for i in range(q.shape[0]):
                t, c = time.perf_counter(), time.process_time()
                fn(q[i : i + 1])
                lat.append((time.perf_counter() - t) * 1e3)
                cpu.append((time.process_time() - c) * 1e3)
            sweep[-1].update(
                p50_ms=round(float(np.percentile(lat, 50)), 3),
                p99_ms=round(float(np.percentile(lat, 99)), 3),
                single_qps=round(1e3 / float(np.mean(lat)), 1),
                cpu_p50_ms=round(float(np.percentile(cpu, 50)), 3),
                single_cpu_qps=round(1e3 / max(float(np.mean(cpu)), 1e-6), 1),
            )
        if chosen >= 0 and rec >= min(0.995, args.target + 0.03):
            break
    op = sweep[chosen] if chosen >= 0 else None
    _, peak = rss_mib()
    return {
        "load_s": round(load_s, 2),
        "index_rss_mib": round(index_rss, 1),
        "search_peak_rss_mib": round(peak, 1),
        "queries_measured": int(q.shape[0]),
        "sweep": sweep,
        "operating_point": op,
    }


def run_child(args) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    wd = workdir_of(args)
    fn = child_build if args.phase == "build" else child_search
    res = fn(args.child, args, wd)
    (wd / f"{args.child}.{args.phase}.json").write_text(json.dumps(res, indent=2) + "\n")


# ----------------------------------------------------------------------------- parent


def spawn(backend: str, phase: str, args, argv: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(OMP_WAIT_POLICY="PASSIVE", LANCE_CPU_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--child", backend, "--phase", phase]
    subprocess.run(cmd, check=True, env=env)
    return json.loads((workdir_of(args) / f"{backend}.{phase}.json").read_text())


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return
    import catalogue

    from embedstore.utils import machine_description

    t0 = time.perf_counter()
    name = args.name or ("search_1m" if args.n == 1_000_000 else f"search_{args.n // 1000}k")
    load_start = os.getloadavg()
    catalogue.generate(args.n, args.dim, args.queries, args.seed)
    catalogue.truth(args.n, args.dim, args.queries, args.seed, args.k)
    wd = workdir_of(args)
    rows = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend not in BACKENDS:
            raise SystemExit(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        built = wd / f"{backend}.build.json"
        if backend == "exact":
            b = {
                "build_s": 0.0,
                "disk_mib": round(args.n * args.dim * 4 / 2**20, 1),
                "build_peak_rss_mib": None,
            }
        elif args.report_only or (
            built.exists() and not args.rebuild and not (args.readd and backend == "faiss-ivf")
        ):
            b = json.loads(built.read_text())
        else:
            b = spawn(backend, "build", args, argv)
        if args.report_only:
            s = json.loads((wd / f"{backend}.search.json").read_text())
        else:
            s = spawn(backend, "search", args, argv)
        rows.append({"backend": backend, "knob": KNOB[backend], **b, **s})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "sweep"}), flush=True)
    res = {
        "command": "bench/bench_search.py " + " ".join(argv),
        "machine": machine_description(),
        "load_avg_start": load_start,
        "load_avg_end": os.getloadavg(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "config": {k: v for k, v in vars(args).items() if k not in ("child", "phase")},
        "total_s": round(time.perf_counter() - t0, 1),
        "results": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    if args.merge and path.exists():
        old = json.loads(path.read_text())
        done = {r["backend"] for r in rows}
        res["results"] = [r for r in old["results"] if r["backend"] not in done] + rows
        res["merged_from"] = {"command": old.get("command"), "load_avg_start": old.get("load_avg_start")}
    path.write_text(json.dumps(res, indent=2) + "\n")
    from report_search import search_markdown

    (out / f"{name}.md").write_text(search_markdown(res))
    print((out / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
