"""Markdown for bench_search.py / bench_filtered.py results (not a test)."""

from __future__ import annotations


def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _header(res: dict, title: str) -> list[str]:
    la, lb = res["load_avg_start"], res["load_avg_end"]
    return [
        f"# {title}",
        "",
        f"Command: `nice -n 10 .venv/bin/python {res['command']}` (commit {res.get('commit', '?')}, "
        f"total {res.get('total_s', '?')} s).",
        "",
        f"Machine: {res['machine']}. Load average while measuring: {la[0]:.1f} at start, {lb[0]:.1f} at end "
        "(machine shared with other jobs: absolute timings are pessimistic and noisy).",
        "",
    ]


def search_markdown(res: dict) -> str:
    c = res["config"]
    lines = _header(res, f"Search backends: {c['n']:,} x {c['dim']} float32, k={c['k']}")
    lines += [
        f"Data: synthetic hierarchical catalogue (bench/catalogue.py: composer > piece > performer > "
        f"recording windows, L2-normalised); {c['queries']} queries are windows of held-out recordings. "
        f"Chance recall@10 of a random top-10: {10 / c['n']:.1e}. Plain baseline: the exact scan (row 1).",
        "",
        f"Operating point = cheapest setting of the knob with recall@10 >= {c['target']} against exact. "
        "q/s CPU = queries per CPU-second of one batch of all queries on one thread (what an idle core "
        "does; the machine was shared, so wall q/s is also given); p50/p99 = one query at a time, wall "
        "(Python call included), CPU p50 = CPU time of those calls. Index RSS = resident memory added by loading the saved index in a fresh "
        "process; build peak RSS includes the memory-mapped input pages the build touched.",
        "",
        "| backend | knob at op. point | recall@10 | q/s CPU, 1 thread | q/s wall | p50 ms | CPU p50 ms | p99 ms "
        "| build s | disk MiB | index RSS MiB | build peak RSS MiB | search peak RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["results"]:
        op = r.get("operating_point") or {}
        knob = (
            f"{r['knob']}={op['knob']}"
            if op
            else f"not reached (best {max(s['recall'] for s in r['sweep']):.3f})"
        )
        lines.append(
            f"| {r['backend']} | {knob} | {_f(op.get('recall'), '{:.3f}')} | {_f(op.get('cpu_qps'), '{:.0f}')} "
            f"| {_f(op.get('batch_qps'), '{:.0f}')} | {_f(op.get('p50_ms'), '{:.2f}')} "
            f"| {_f(op.get('cpu_p50_ms'), '{:.2f}')} | {_f(op.get('p99_ms'), '{:.2f}')} | {r['build_s']} | "
            f"{r['disk_mib']} | {r['index_rss_mib']} | {_f(r.get('build_peak_rss_mib'), '{:.0f}')} | "
            f"{r['search_peak_rss_mib']:.0f} |"
        )
    lines += ["", "Recall / throughput sweeps (knob: recall@10 / q/s CPU / q/s wall, one thread):", ""]
    for r in res["results"]:
        pts = ", ".join(
            f"{s['knob']}: {s['recall']:.3f} / {s.get('cpu_qps', 0):.0f} / {s['batch_qps']:.0f}"
            for s in r["sweep"]
        )
        lines.append(f"- {r['backend']} ({r['knob']}): {pts}")
    lines += ["", "Build details:", ""]
    for r in res["results"]:
        extra = {k: r[k] for k in ("params", "stages", "table_write_s") if k in r}
        if extra:
            lines.append(f"- {r['backend']}: `{extra}`")
    by = {r["backend"]: r for r in res["results"]}
    ivf, lance = by.get("faiss-ivf"), by.get("lance-ivfpq")
    if ivf and ivf.get("operating_point"):
        op = ivf["operating_point"]
        lines += [
            "",
            "## Goals",
            "",
            f"- faiss-ivf (IVF-SQ8 + fp16 re-rank): recall@10 {op['recall']:.3f} at {op.get('cpu_qps', 0):.0f} q/s per "
            f"CPU-second on one thread ({op['batch_qps']:.0f} wall under the load above; goal >= 2,000), "
            f"index RSS {ivf['index_rss_mib'] / 1024:.2f} GiB (goal <= 4 GB).",
        ]
        if lance and lance.get("operating_point"):
            lop = lance["operating_point"]
            ratio = op.get("cpu_qps", 0) / max(lop.get("cpu_qps", 0), 1e-9)
            lat = lop.get("cpu_p50_ms", 0) / max(op.get("cpu_p50_ms", 0), 1e-9)
            lines.append(
                f"- vs LanceDB IVF_PQ at recall >= {c['target']} ({lop['recall']:.3f}): {ratio:.1f}x its q/s per "
                f"CPU-second, {lat:.1f}x lower single-query CPU p50 (goal >= 5x)."
            )
    if res.get("merged_from"):
        lines += ["", f"Rows of other backends come from an earlier run: `{res['merged_from']['command']}`."]
    return "\n".join(lines) + "\n"
