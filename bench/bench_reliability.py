"""Crash consistency of `embedstore index`, driven from outside through the CLI (issue 12).

1. **Crash points**: for each named write boundary (docs/write-protocol.md), `embedstore index` runs with
   ``EMBEDSTORE_CRASH_AT=<point>`` in the scenario that reaches it (fresh index, add, change, delete with
   ``--prune``, duplicate) and dies there (exit 77); the next run completes; then `verify` and a comparison with the
   folder (lost, duplicated, stale recordings).
2. **Random kill -9**: `embedstore index --prune` on a re-index (2 files added, 3 changed in place, or 2 removed),
   killed with SIGKILL at a random moment; the next run completes; same checks.
3. **Odd inputs**: the corpus of :mod:`embedstore.synth.corpus` through `embedstore index --json`: kind -> outcome.
4. **Concurrent readers**: `search --id` + `info` in a loop (library calls in this process) while another process
   re-indexes files changed in place: errors and calls.

Usage::

    python bench/bench_reliability.py [--kills 24] [--seed 0]

Writes bench/results/reliability.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embedstore.pipeline import index_paths
from embedstore.search import search
from embedstore.store import Store
from embedstore.store.lock import LOCK_FILE
from embedstore.store.verify import audit_folder, verify_store
from embedstore.synth import make_collection
from embedstore.synth.corpus import write_odd_corpus
from embedstore.utils import CRASH_ENV, CRASH_EXIT_CODE, machine_description

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KW = dict(window_s=4.0, hop_s=2.0, frames=False, batch_files=1)
CLI = [
    "index",
    "--window",
    "4",
    "--hop",
    "2",
    "--no-frames",
    "--batch-files",
    "1",
    "--prune",
    "--no-progress",
]

#: (scenario, crash point): every named boundary, in a scenario that reaches it.
POINTS = [
    ("fresh", "after_create_table@3"),
    ("fresh", "between_spaces"),
    ("fresh", "after_recordings@2"),
    ("fresh", "after_markers@2"),
    ("add", "before_markers"),
    ("add", "after_append@7"),
    ("add", "before_rejects"),
    ("add", "before_optimize@3"),
    ("change", "after_recordings"),
    ("change", "before_delete_old"),
    ("change", "before_delete_vectors"),
    ("delete", "before_delete_markers"),
    ("delete", "before_delete_vectors"),
    ("duplicate", "after_vectors"),
]


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _change(f: Path, shift: int) -> None:
    import soundfile as sf

    x, sr = sf.read(f, dtype="float32")
    sf.write(f, np.roll(x, shift) * 0.9, sr)


class Bench:
    """The template (6 clips indexed, 2 spare clips) and the per-trial copies."""

    def __init__(self, work: Path, rng: random.Random):
        self.work, self.rng = work, rng
        man = make_collection(work / "synth", n_pieces=2, n_performers=4, n_bars=4, seed=0)
        clips = sorted((man.parent / "audio").glob("*.flac"))
        self.base, self.extra = work / "base", clips[6:8]
        self.base.mkdir()
        for f in clips[:6]:
            shutil.copy(f, self.base / f.name)
        index_paths(self.base, Store(work / "base.lance"), "chroma", **KW)
        self.n = 0

    def trial(self, scenario: str) -> tuple[Path, Path]:
        """A fresh (folder, store) for a scenario."""
        self.n += 1
        d = self.work / f"t{self.n}"
        folder, store = d / "audio", d / "s.lance"
        shutil.copytree(self.base, folder)
        if scenario != "fresh":
            shutil.copytree(self.work / "base.lance", store)
            st = Store(store)
            rec = st.recordings()
            st.update_metadata(
                [
                    {"recording_id": r, "path": str(folder / n)}
                    for r, n in zip(rec["recording_id"], rec["file_name"])
                ]
            )
        files = sorted(folder.glob("*.flac"))
        if scenario == "add":
            for f in self.extra:
                shutil.copy(f, folder / f.name)
            (folder / "bad.wav").write_text("not audio")
        elif scenario == "change":
            for i, f in enumerate(self.rng.sample(files, 3)):
                _change(f, 3000 * (i + 1) + self.rng.randrange(1000))
        elif scenario == "delete":
            for f in self.rng.sample(files, 2):
                f.unlink()
        elif scenario == "duplicate":
            shutil.copy(files[0], folder / "copy.flac")
            shutil.copy(self.extra[0], folder / self.extra[0].name)
        return folder, store

    @staticmethod
    def check(folder: Path, store: Path) -> dict:
        """The next run, then verify and the folder comparison."""
        t0 = time.perf_counter()
        rep = index_paths(folder, Store(store), "chroma", prune=True, **KW)
        st = Store(store)
        v = verify_store(st)
        audit = audit_folder(st, [f for f in folder.iterdir() if f.suffix == ".flac"])
        return {
            "next_run_ok": rep.ok,
            "repaired": len(rep.repaired),
            "verify_problems": [p.kind for p in v.problems],
            "lost": len(audit["lost"]),
            "duplicated": len(audit["duplicated"]),
            "stale": len(audit["stale"]),
            "recover_s": round(time.perf_counter() - t0, 2),
        }


def _cli(folder: Path, store: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "embedstore.cli", *CLI, str(folder), "--store", str(store)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def crash_points(b: Bench) -> list[dict]:
    rows = []
    for scenario, point in POINTS:
        folder, store = b.trial(scenario)
        p = _cli(folder, store, {CRASH_ENV: point})
        _, err = p.communicate(timeout=600)
        row = {"scenario": scenario, "point": point, "exit": p.returncode}
        row.update(b.check(folder, store))
        row["reached"] = p.returncode == CRASH_EXIT_CODE
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _run_until_lock(folder: Path, store: Path) -> tuple[subprocess.Popen, float]:
    """Start `embedstore index` and wait until it holds the store's write lock (its writing phase begins)."""
    lock = store / LOCK_FILE
    p = _cli(folder, store)
    while p.poll() is None and not lock.exists():
        time.sleep(0.01)
    return p, time.perf_counter()


def random_kills(b: Bench, n: int) -> list[dict]:
    """SIGKILL at a uniform random moment of the writing phase (from taking the write lock to the end of an
    uninterrupted run: repair, writes of every batch, deletes, compaction), so kills land between and inside
    commits rather than while Python imports."""
    durations = {}
    for scenario in ("add", "change", "delete"):  # how long the writing phase of an uninterrupted run takes
        folder, store = b.trial(scenario)
        p, t0 = _run_until_lock(folder, store)
        p.communicate(timeout=600)
        durations[scenario] = time.perf_counter() - t0
    rows = []
    i = 0
    while sum(r["killed"] for r in rows) < n and i < 3 * n:
        scenario = ("add", "change", "delete")[i % 3]
        i += 1
        folder, store = b.trial(scenario)
        at = b.rng.uniform(0.0, 1.0) * durations[scenario]
        p, t0 = _run_until_lock(folder, store)
        while p.poll() is None and time.perf_counter() - t0 < at:
            time.sleep(0.005)
        killed = p.poll() is None
        if killed:
            p.send_signal(signal.SIGKILL)
        p.wait()
        row = {
            "scenario": scenario,
            "kill_at_s": round(at, 2),
            "write_phase_s": round(durations[scenario], 2),
            "killed": killed,
            "exit": p.returncode,
        }
        row.update(b.check(folder, store))
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _files_under(store: Path) -> set[str]:
    out = set()
    for t in store.glob("*.lance"):
        for sub in ("data", "_versions", "_deletions"):
            d = t / sub
            if d.is_dir():
                out |= {str(d / n) for n in os.listdir(d)}
    return out


def write_kills(b: Bench, n: int) -> list[dict]:
    """SIGKILL shortly after the k-th new file appears in the store's tables (k random in 1..12, then 0-200 ms
    more): kills inside or right after a LanceDB commit of a batch, where a kill at a uniform random moment
    rarely lands (encoding takes most of a run's time)."""
    rows = []
    i = 0
    while sum(r["killed"] for r in rows) < n and i < 3 * n:
        scenario = ("add", "change", "delete")[i % 3]
        i += 1
        folder, store = b.trial(scenario)
        k = b.rng.randint(1, 12)
        delay = b.rng.uniform(0.0, 0.2)
        p, _ = _run_until_lock(folder, store)
        base = _files_under(store)
        seen = 0
        while p.poll() is None:
            seen = len(_files_under(store) - base)
            if seen >= k:
                time.sleep(delay)
                break
            time.sleep(0.005)
        killed = p.poll() is None
        if killed:
            p.send_signal(signal.SIGKILL)
        p.wait()
        row = {
            "scenario": scenario,
            "new_files": k,
            "delay_s": round(delay, 3),
            "killed": killed,
            "exit": p.returncode,
        }
        row.update(b.check(folder, store))
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def corpus(work: Path) -> list[dict]:
    d = work / "odd"
    cases = write_odd_corpus(d)
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "embedstore.cli",
            *CLI[:-2],
            "--max-duration",
            "27",
            "--json",
            "--no-progress",
            str(d),
        ]
        + ["--store", str(work / "odd.lance")],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    rep = json.loads(p.stdout)
    by = {Path(i["path"]).name: i for i in rep["inputs"]}
    rows = []
    for c in cases:
        name = c.name if c.raw_name is None else c.raw_name.decode("utf-8", "backslashreplace")
        got = by.get(name, {"status": "MISSING"})
        ok = got["status"] == c.expect and (c.expect != "rejected" or got.get("reason") in c.reasons)
        detail = (
            got.get("reason")
            or got.get("why")
            or (Path(got["duplicate_of"]).name if "duplicate_of" in got else "")
        )
        rows.append({"kind": c.kind, "expected": c.expect, "got": got["status"], "detail": detail, "ok": ok})
    return rows


def readers(b: Bench) -> dict:
    folder, store = b.trial("change")
    for i, f in enumerate(sorted(folder.glob("*.flac"))):
        _change(f, 500 * (i + 1))  # every file changes
    files = sorted(folder.glob("*.flac"))
    p = _cli(folder, store)
    st = Store(store)
    calls, errors = 0, []
    while p.poll() is None:
        for f in files:
            calls += 1
            try:
                rec = st.recording(f.stem)
                search(st, recording_id=rec["recording_id"], k=3)
                st.info()
            except Exception as e:  # noqa: BLE001 - counted
                errors.append(f"{type(e).__name__}: {e}")
    return {"calls": calls, "errors": len(errors), "examples": errors[:3], "writer_exit": p.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-kills", type=int, default=20)
    ap.add_argument(
        "--only-kills",
        action="store_true",
        help="re-run the kill trials; keep the other sections of the last run",
    )
    a = ap.parse_args()
    load0 = os.getloadavg()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        b = Bench(work, random.Random(a.seed))
        last = json.loads((RESULTS / "reliability.json").read_text()) if a.only_kills else {}
        points = last["crash_points"] if a.only_kills else crash_points(b)
        kills = last["kills"] if a.only_kills and a.kills == 0 else random_kills(b, a.kills)
        wkills = write_kills(b, a.write_kills)
        odd = last["corpus"] if a.only_kills else corpus(work)
        rd = last["readers"] if a.only_kills else readers(b)
    out = {
        "command": "python bench/bench_reliability.py " + " ".join(sys.argv[1:]),
        "commit": _commit(),
        "machine": machine_description(),
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
        "minutes": round((time.time() - t0) / 60, 1),
        "crash_points": points,
        "kills": kills,
        "write_kills": wkills,
        "corpus": odd,
        "readers": rd,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reliability.json").write_text(json.dumps(out, indent=2))
    (RESULTS / "reliability.md").write_text(report(out))
    print(report(out))


def _sum(rows: list[dict], key: str) -> int:
    return int(sum(r[key] for r in rows))


def report(o: dict) -> str:
    k = [r for r in o["kills"] if r["killed"]]
    wk = o.get("write_kills", [])
    wkk = [r for r in wk if r["killed"]]
    lines = [
        "# Reliability: crash points, kill -9, odd inputs, concurrent readers",
        "",
        f"Command: `{o['command']}` (commit {o['commit']}, {o['minutes']} min). Machine: {o['machine']}. "
        f"Load average {o['loadavg_start'][0]:.1f} at start, {o['loadavg_end'][0]:.1f} at end (2 cores shared).",
        "",
        "Collection: 6 generated clips (chroma, 4 s windows, 2 s hop, one file per batch) indexed; each trial copies it "
        "and then adds 2 clips + 1 bad file (`add`), changes 3 clips in place (`change`), removes 2 (`delete`, with "
        "`--prune`), adds a duplicate (`duplicate`) or starts from an empty store (`fresh`). After the crash, the next "
        "`index` run (library call) must complete; then `verify` must be clean and the store must hold exactly the "
        "folder: *lost* = files whose content has no recording, *duplicated* = contents or paths with 2+ recordings, "
        "*stale* = recordings whose path does not hold their content. Baseline (before this work, issue 12): 15 of 22 "
        "crash trials clean.",
        "",
        "## Crash points (EMBEDSTORE_CRASH_AT, through the CLI)",
        "",
        "| scenario | point | reached (exit 77) | next run | repairs | verify | lost | duplicated | stale |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in o["crash_points"]:
        lines.append(
            f"| {r['scenario']} | `{r['point']}` | {'yes' if r['reached'] else 'no (exit ' + str(r['exit']) + ')'} | "
            f"{'ok' if r['next_run_ok'] else 'FAILED'} | {r['repaired']} | "
            f"{'clean' if not r['verify_problems'] else ', '.join(r['verify_problems'])} | {r['lost']} | "
            f"{r['duplicated']} | {r['stale']} |"
        )
    if o["crash_points"]:
        cp = o["crash_points"]
        clean = sum(not r["verify_problems"] and not (r["lost"] or r["duplicated"] or r["stale"]) for r in cp)
        lines += [
            "",
            f"**{clean} of {len(cp)} crash-point trials clean** ({sum(r['reached'] for r in cp)} reached).",
        ]
    lines += [
        "",
        "## Random kill -9 (SIGKILL at a uniform random moment of the writing phase: from taking the write lock to "
        "the end of an uninterrupted run)",
        "",
        f"Trials: {len(o['kills'])}, killed while running: {len(k)} "
        f"(add {sum(r['scenario'] == 'add' for r in k)}, change {sum(r['scenario'] == 'change' for r in k)}, "
        f"delete {sum(r['scenario'] == 'delete' for r in k)}).",
        "",
        "| | killed trials |",
        "|---|---|",
        f"| next run completed | {sum(r['next_run_ok'] for r in k)} / {len(k)} |",
        f"| verify clean after it | {sum(not r['verify_problems'] for r in k)} / {len(k)} |",
        f"| next runs that had something to repair first (the kill left a partial write) | "
        f"{sum(r['repaired'] > 0 for r in k)} |",
        f"| lost | {_sum(k, 'lost')} |",
        f"| duplicated | {_sum(k, 'duplicated')} |",
        f"| stale | {_sum(k, 'stale')} |",
        "",
        "## Kill -9 inside the writes (SIGKILL 0-200 ms after the k-th new file of a LanceDB commit, k in 1..12)",
        "",
        f"Trials: {len(wk)}, killed while running: {len(wkk)} (add {sum(r['scenario'] == 'add' for r in wkk)}, "
        f"change {sum(r['scenario'] == 'change' for r in wkk)}, delete {sum(r['scenario'] == 'delete' for r in wkk)}).",
        "",
        "| | killed trials |",
        "|---|---|",
        f"| next run completed | {sum(r['next_run_ok'] for r in wkk)} / {len(wkk)} |",
        f"| verify clean after it | {sum(not r['verify_problems'] for r in wkk)} / {len(wkk)} |",
        f"| next runs that had something to repair first | {sum(r['repaired'] > 0 for r in wkk)} |",
        f"| lost | {_sum(wkk, 'lost')} |",
        f"| duplicated | {_sum(wkk, 'duplicated')} |",
        f"| stale | {_sum(wkk, 'stale')} |",
        "",
        "## Odd inputs through `embedstore index --json`",
        "",
        f"{sum(r['ok'] for r in o['corpus'])} of {len(o['corpus'])} as expected; every input is listed in `inputs`.",
        "",
        "| kind | expected | got | reason / why / duplicate of |",
        "|---|---|---|---|",
    ]
    for r in o["corpus"]:
        lines.append(
            f"| {r['kind']} | {r['expected']} | {r['got']}{'' if r['ok'] else ' **(!)**'} | {r['detail']} |"
        )
    rd = o["readers"]
    lines += [
        "",
        "## Concurrent readers",
        "",
        f"`recording(<stem>)` + `search(recording_id=..., k=3)` + `info()` in a loop while another process re-indexes "
        f"6 files changed in place (every recording replaced): **{rd['errors']} errors in {rd['calls']} calls** "
        f"(writer exit {rd['writer_exit']}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
