"""The markdown report of bench/bench_frames.py (``bench/results/frames.md``) from its JSON results."""

from __future__ import annotations


def markdown(out: dict) -> str:
    def cell(m, t):
        if t not in m:
            return "-"
        v = m[t]
        lo, hi = v.get("ci_low"), v.get("ci_high")
        if lo is None or hi is None or lo != lo:
            return f"{100 * v['value']:.1f}"
        return f"{100 * v['value']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"

    by_perf = str(out.get("grouping", "piece_id")).startswith("performance")
    unit = "performance" if by_perf else "piece"
    lines = [
        f"# Frame-level probes on asap-dev (grouped CV by {unit})",
        "",
    ]
    if by_perf:
        lines += [
            "**Diagnostic protocol, not leakage-safe across pieces**: folds grouped by performance, so other "
            "performances of every test piece are in training (as in benchmarks split by performance, e.g. "
            "MazurkaBL-style splits). Compare with `frames.md` (unseen pieces) to see what unseen pieces cost.",
            "",
        ]
    lines += [
        f"{out['n_clips']} clips, {out['n_pieces']} {unit}s, {out['folds']} folds grouped by {unit}; F1 x 100 with "
        f"95 % bootstrap CIs over {unit}s. Beats/downbeats: mir_eval F-measure (+-70 ms); dynamics: frame macro-F1 "
        "of 6 levels; change points: F1 within +-0.5 s. Dynamics levels and change points are DERIVED from MIDI "
        "velocities; the audio is rendered with one soundfont.",
        "",
        "| encoder | model | parameters | beat F1 | beat F1 (any metrical level) | downbeat F1 | dynamics macro-F1 | change-point F1 (head) | "
        "change-point F1 (level changes) | meter accuracy | trained on (h per fold) | CV time (s) |",
        "|---|---|---:|---|---|---|---|---|---|---|---:|---:|",
    ]
    for r in out["results"]:
        m = r["metrics"]
        lines.append(
            f"| {r['encoder']} | {r['model']} | {r['n_parameters']:,} | {cell(m, 'beat')} | "
            f"{cell(m, 'beat_any_level')} | {cell(m, 'downbeat')} | {cell(m, 'dynamics')} | {cell(m, 'change')} | "
            f"{cell(m, 'change_from_levels')} | {cell(m, 'meter')} | "
            + (f"{r['hours_train_mean']:.2f}" if "hours_train_mean" in r else "-")
            + f" | {r['seconds_cv']:.0f} |"
        )
    longs = [r for r in out["results"] if r.get("metrics_long")]
    if longs:
        lines += [
            "",
            f"**Long excerpts of the held-out pieces** ({out['settings'].get('test_long')}: "
            f"{longs[0]['metrics_long']['beat']['n']} excerpts of 60-120 s, one per piece, starting inside a "
            "random bar; each decoded by the model / decoder settings of the fold that holds its piece out; "
            "nothing tuned on them):",
            "",
            "| encoder | model | beat F1 | beat F1 (any metrical level) | downbeat F1 | meter accuracy |",
            "|---|---|---|---|---|---|",
        ]
        for r in longs:
            m = r["metrics_long"]
            lines.append(
                f"| {r['encoder']} | {r['model']} | {cell(m, 'beat')} | {cell(m, 'beat_any_level')} | "
                f"{cell(m, 'downbeat')} | {cell(m, 'meter')} |"
            )
    t = out["targets"]
    chance = [r for r in out["results"] if r["model"] == "chance"]
    if chance:
        lines += ["", "chance: " + chance[0]["description"] + "."]
    for r in out["results"]:
        if r["model"] != "chance" and r.get("description"):
            lines.append(f"- {r['model']}: {r['description']}.")
    ours = [r for r in out["results"] if "hours_train_mean" in r]
    if ours:
        lines += [
            "",
            "Our models: trained per fold on the hours of audio given in the table (mean over folds; the "
            "original 30 s clips of the fold's training pieces less the inner validation pieces (20 %, original "
            "clips only: early stopping, thresholds, the decoder's tempo range / penalty, the blend weight), plus, "
            "for `+ extra audio`, the extra clips of those same pieces and of pieces outside the data (e.g. "
            f"synthetic ones; never a test or validation piece's): {ours[-1].get('train_extra') or '-'}); "
            f"decoder `{ours[0].get('decoder', 'dbn')}`; "
            f"settings: "
            + ", ".join(
                f"{k}={out['settings'][k]}"
                for k in ("epochs", "linear_epochs", "patience", "monitor", "max_pos_weight", "madmom_models")
                if k in out["settings"]
            )
            + ".",
        ]
    lines += [
        "",
        "Beats: the annotated beats follow the notation (19-311 per minute on asap-dev), so a tracker must "
        "also find the notated metrical level; the DBN tracker searches 20-320 beats per minute. "
        "`beat F1 (any metrical level)`: the best F1 against the annotated beats at twice, three times, half or a "
        "third their rate (each phase; `embedstore.frames.evaluate.beat_f_any_level`): the gap to `beat F1` is the "
        "share of the error that is the metrical level alone.",
    ]
    lines += [
        "",
        "Derived level shares pp..ff: "
        + " / ".join(f"{100 * s:.0f} %" for s in t["dynamics_level_share"])
        + f"; {t['change_points_per_clip_mean']:.1f} change points per clip. Meter accuracy: share of clips "
        "whose beats per bar (most common count of beats per complete bar, `embedstore.frames.evaluate.meter_of`) "
        "equals the annotation's; reference meters (beats per bar: clips): "
        + ", ".join(f"{k}: {v}" for k, v in t.get("reference_meters", {}).items())
        + ". madmom's DBN chooses among 2/3/4 (3/4 for its CLI defaults); chance always says 4.",
        f"Total time {out['seconds_total'] / 60:.1f} min ({out['machine']['jobs']} parallel jobs x "
        f"{out['machine']['threads']} thread) on {out['machine'].get('description', '?')}, load average at the "
        f"end {out['machine'].get('loadavg_end', '?')} (the machine is shared). Commit {out.get('commit', '?')}.",
        "",
        f"Command: `{out.get('command', 'python bench/bench_frames.py')}`",
        "",
    ]
    return "\n".join(lines)
