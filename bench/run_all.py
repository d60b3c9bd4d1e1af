"""Every benchmark in bench/, once, with quick settings: does each still run, and what
ratios does it give at a small size? (``make bench``)

Each benchmark runs as its own process (``python bench/<name>.py <quick args>``) against
this checkout's ``src/``, one after the other; its table goes to stdout as it prints it,
its progress lines to stderr only when it fails. At the end: a summary (exit status and
wall seconds per benchmark) and the lines that carry a ratio or a margin, gathered.

The quick settings are small sizes and few frames, so the figures are NOT those of
bench/RESULTS.md (each section there names its full command: the script's defaults).
Nothing is downloaded: the inputs are synthetic (cached under --work) or the shared
samples; the salvage benchmark compares with untrunc only where it is already built
(/tmp/untrunc-src/untrunc).

    .venv/bin/python bench/run_all.py [--only quality,throughput,...] [--work DIR] [--timeout S]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# name -> script and its quick arguments ({work} is this run's work folder)
QUICK: dict[str, list[str]] = {
    "quality": ["quality/run.py"],  # ten 1280x640 rigs: the quality table as RESULTS.md has it
    "optics": ["quality/optics.py", "--rigs", "--sizes", "480", "--seeds", "8101"],
    "photometry": ["quality/photometry.py", "--only", "synthetic", "--out", "{work}/photometry"],
    "follow": ["quality/follow.py", "--out", "{work}/follow"],
    "throughput": ["throughput/run.py", "--sizes", "1440", "--frames", "16", "--stitch-frames", "4",
                   "--preset", "ultrafast", "--work", "{work}"],
    "budget": ["throughput/budget.py", "--sizes", "1440", "--frames", "12", "--rounds", "1",
               "--preset", "ultrafast", "--work", "{work}"],
    "max360": ["throughput/max360.py", "--frames", "8", "--repeat", "1", "--width", "1344",
               "--preset", "ultrafast", "--work", "{work}"],
    "salvage": ["salvage/run.py", "--large-gb", "0.05", "--repeat", "1", "--work", "{work}/salvage"],
    "scale": ["scale/run.py", "--width", "1280", "--segment-frames", "8", "--segments", "2",
              "--preset", "ultrafast", "--work", "{work}"],
    "overview": ["overview/run.py", "--size", "1280x640", "--hours", "0.05", "--gop", "60", "--work", "{work}/overview"],
    "hostile": ["hostile/run.py", "--minutes", "0.5"],
}

# outside tables: a ratio ("0.77x fps") or a margin in dB ("+6.34 dB"); in a markdown table:
# the columns that compare with the peer tool ("ratio", "pipeline / v360", ...)
RATIO_TEXT = re.compile(r"\d\.\d+\s*x\b|[+-]\d+(\.\d+)?\s*dB")
RATIO_COLUMN = re.compile(r"ratio|/ v360|v360 /|/ ffmpeg|/ untrunc", re.I)


def ratio_lines(out: str) -> list[str]:
    """The lines of a benchmark's output that carry its ratios: text lines with one, and
    per table row the cells of its ratio columns, named by their header."""
    found: list[str] = []
    header: list[str] | None = None
    for line in out.splitlines():
        if not line.startswith("|"):
            header = None
            if RATIO_TEXT.search(line):
                found.append(line.strip())
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):  # not the separator row
            picks = [f"{h} = {c}" for h, c in zip(header, cells) if RATIO_COLUMN.search(h) and c not in ("", "-")]
            if picks:
                found.append(f"{cells[0]}: " + "; ".join(picks))
    return found


def run_one(name: str, work: Path, timeout_s: float) -> tuple[int, float, list[str]]:
    script, *args = (a.format(work=work) for a in QUICK[name])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    print(f"\n## {name}: {script} {' '.join(args)}", flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = 124
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout_s:.0f} s"
    seconds = time.monotonic() - start
    print(out, end="" if out.endswith("\n") or not out else "\n", flush=True)
    if rc != 0:
        print(f"[{name} failed, exit {rc}]\n" + "\n".join(err.strip().splitlines()[-15:]), flush=True)
    return rc, seconds, ratio_lines(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated subset of: {', '.join(QUICK)}")
    ap.add_argument("--work", type=Path, default=Path("/tmp/orbit360-bench-quick"),
                    help="inputs rendered once and cached here (apart from the full runs' caches)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds one benchmark may take")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(QUICK)
    unknown = [n for n in names if n not in QUICK]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {name: run_one(name, args.work, args.timeout) for name in names}

    print("\n## summary (quick settings; the full figures are in bench/RESULTS.md)")
    for name, (rc, seconds, _) in results.items():
        print(f"{name:12s} {'ok' if rc == 0 else f'FAILED (exit {rc})':18s} {seconds:7.1f} s")
    print(f"{'total':12s} {'':18s} {sum(s for _, s, _ in results.values()):7.1f} s")
    print("\n## ratio lines")
    for name, (_, _, lines) in results.items():
        for line in lines:
            print(f"{name}: {line.strip()}")
    return 0 if all(rc == 0 for rc, _, _ in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
