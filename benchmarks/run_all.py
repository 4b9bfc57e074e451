"""Run every benchmark and write ``benchmarks/RESULTS.md``: the machine, a summary of every target, each output.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--out PATH]

Each script runs as a subprocess, one after another (never two at once: they would time each other), with
its own defaults (timing scripts measure 1 and 2 threads, medians of ≥ 5 rounds). The file gets the
machine as read from the system (``_bench.machine_info``), the commit measured, a summary table of every
``TARGET`` line the scripts print (value, threshold, met or MISSED) and their headlines, then each script's
full output. Everything below the line ``NOTES_MARKER`` in the existing file (hand-written notes: how a
target was reached, caveats) is kept as it is. ``--quick`` runs the scripts' CI-sized modes and prints
the file to stdout instead of writing it (its figures are not results), unless ``--out`` is given.
Exit status 1 when a script fails or a target is missed. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
import time
from pathlib import Path

import _bench

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
NOTES_MARKER = "<!-- run_all.py keeps everything below this line -->"
# (script, extra arguments): the order of RESULTS.md
SCRIPTS = [("attack_step.py", ["--compile"]), ("batched_sweep.py", []), ("certificate.py", []),
           ("attack_convergence.py", ["--threads", "1"]), ("slider_latency.py", []), ("book_time.py", []),
           ("gpu_scale.py", []), ("time_to_leak.py", [])]
_TARGET = re.compile(r"^TARGET (?P<what>.+?): (?P<value>\S+?)(?P<unit> s)? \(target (?P<rule>[≤≥] \S+?)(?: s)?: "
                     r"(?P<status>met|MISSED)\)$")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(HERE), "log", "-1", "--format=%h %s"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run(script: str, extra: list[str], quick: bool) -> dict:
    command = [sys.executable, str(HERE / script), *(["--quick"] if quick else []), *extra]
    print(f"running {' '.join(command[1:])} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return {"script": script, "command": " ".join(["python", f"benchmarks/{script}", *command[2:]]),
            "seconds": seconds, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "targets": [m.groupdict() for m in map(_TARGET.match, lines) if m],
            "headline": next((line for line in reversed(lines) if line.startswith("HEADLINE")), None)}


def notes_of(text: str) -> str:
    """The hand-written notes of a RESULTS.md text: everything below the first ``NOTES_MARKER`` line
    (leading blank lines dropped), or "" when the text has no marker."""
    return text.split(NOTES_MARKER, 1)[1].lstrip("\n") if NOTES_MARKER in text else ""


def previous_notes(out: Path | None, results: Path = RESULTS) -> str:
    """The notes to keep: those of ``out`` when it exists, else those of ``results`` (the committed file)."""
    for path in (out, results):
        if path is not None and path.exists():
            return notes_of(path.read_text())
    return ""


def render(results: list[dict], quick: bool, notes: str) -> str:
    info = _bench.machine_info()
    out = ["# Benchmark results", "",
           "Written by `python benchmarks/run_all.py` (do not edit above the notes marker: a re-run replaces it).",
           "Ratios are measured side by side in one run (interleaved rounds, medians of ≥ 5); absolute times are "
           "context only." + (" **Quick mode: CI-sized smoke figures, not results.**" if quick else ""), "",
           "## Machine and conditions", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- library state: {_commit()}", "",
            "## Summary of targets", "", "| benchmark | target | value | threshold | status |", "|---|---|---|---|---|"]
    for r in results:
        for t in r["targets"]:
            out.append(f"| `{r['script']}` | {t['what']} | {t['value']}{t['unit'] or ''} | {t['rule']} | "
                       f"{t['status']} |")
        if r["returncode"] != 0:
            out.append(f"| `{r['script']}` | (script failed, exit status {r['returncode']}) | – | – | FAILED |")
    out += ["", "## Headlines", ""]
    out += [f"- `{r['script']}`: {r['headline'] or '(no headline)'}" for r in results]
    for r in results:
        out += ["", f"## `{r['script']}`", "", f"`{r['command']}` ({r['seconds']:.0f} s)", "", "```",
                r["stdout"].rstrip()]
        if r["returncode"] != 0:
            out += ["--- stderr (last lines) ---", *r["stderr"].rstrip().splitlines()[-15:]]
        out.append("```")
    out += ["", NOTES_MARKER, notes.rstrip("\n")] if notes.strip() else ["", NOTES_MARKER]
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the scripts' CI-sized modes; print instead of writing")
    p.add_argument("--only", nargs="*", help="only scripts whose name contains one of these")
    p.add_argument("--out", default=None, help="where to write (default benchmarks/RESULTS.md; --quick: stdout)")
    args = p.parse_args()
    scripts = [(s, e) for s, e in SCRIPTS if not args.only or any(n in s for n in args.only)]
    if not scripts:
        p.error(f"--only matched no script of {[s for s, _ in SCRIPTS]}")
    out = Path(args.out) if args.out else (None if args.quick else RESULTS)
    notes = previous_notes(out)
    results = [run(s, e, args.quick) for s, e in scripts]
    text = render(results, args.quick, notes)
    if out is None:
        print(text)
    else:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    failed = [r["script"] for r in results if r["returncode"] != 0]
    missed = [f"{r['script']}: {t['what']}" for r in results for t in r["targets"] if t["status"] != "met"]
    for line in [f"failed: {', '.join(failed)}"] * bool(failed) + [f"missed: {m}" for m in missed]:
        print(line, file=sys.stderr)
    sys.exit(1 if failed or missed else 0)


if __name__ == "__main__":
    main()
