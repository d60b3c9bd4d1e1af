"""What the throughput benchmarks share: each measured run in its own process.

A script calls ``measure(__file__, kind, *args)``; the child (the same script with
``--child``) does the run and ends with ``report(result)``, one ``RESULT {json}`` line that
carries its peak RSS. CPU seconds (``cpu_s``) are user + system of all the process'
threads: on a machine shared with other jobs they move much less with their load than
wall time does.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable


def cpu_s() -> float:
    """CPU seconds (user + system, all threads) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def report(res: dict) -> None:
    """Print a child's result for ``measure``, with its peak RSS in MB."""
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def sizes_and_frames(sizes: str, frames: str) -> list[tuple[int, int]]:
    """``--sizes 2880,5760 --frames 240,96`` as (width, frames) pairs; the last frame
    count serves the sizes left over."""
    widths = [int(s) for s in sizes.split(",")]
    counts = [int(s) for s in frames.split(",")]
    counts += [counts[-1]] * (len(widths) - len(counts))
    return list(zip(widths, counts))


def measure(script: str, *args: str) -> dict:
    """Run ``script --child *args`` in a new process and return its ``report``."""
    proc = subprocess.run([sys.executable, script, "--child", *args], capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[7:])


def serve_child(child: Callable[[list[str]], object], make: Callable[[list[str]], object]) -> bool:
    """Be the process ``measure`` (``--child``) or ``make_in_child`` (``--make``) started:
    run ``child`` or ``make`` with the arguments after the flag and return True; False in
    the parent, whose own command line follows."""
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("--child", "--make"):
        return False
    (child if role == "--child" else make)(sys.argv[2:])
    return True


def make_in_child(script: str, *args: str) -> None:
    """Run ``script --make *args`` (render the input) in a new process. A forked child's
    peak RSS starts at its parent's (the shared pages count, and the peak survives exec),
    so a parent that rendered frames itself would inflate every measured child's."""
    subprocess.run([sys.executable, script, "--make", *args], check=True)


class X264Sink:
    """The FFmpeg side of a benchmark: frames pulled from a filter graph, encoded by
    libx264 at ``crf`` and ``preset`` (orbit360's settings) and muxed into ``dst``."""

    def __init__(self, dst, rate, size: tuple[int, int], crf: int, preset: str) -> None:  # type: ignore[no-untyped-def]
        from fractions import Fraction

        self.dst = dst
        fps = Fraction(rate)
        self.stream = dst.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = size[0], size[1], "yuv420p"
        self.time_base = self.stream.time_base = 1 / fps  # (the muxer changes the stream's later)
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.stream.thread_type = "AUTO"  # frame threads, as the ffmpeg command line (and VideoWriter)
        self.frames = 0

    def drain(self, pull) -> None:  # type: ignore[no-untyped-def]
        """Encode every frame ``pull()`` gives until the graph wants input or has ended."""
        import av

        while True:
            try:
                f = pull()
            except (av.BlockingIOError, av.EOFError):
                return
            self.write(f)

    def write(self, f) -> None:  # type: ignore[no-untyped-def]
        """Encode the frame ``f``."""
        import av

        # a fresh picture for the encoder: no timing or frame type from the decoder
        f.pts, f.time_base = self.frames, self.time_base
        f.pict_type = av.video.frame.PictureType.NONE
        self.frames += 1
        for p in self.stream.encode(f):
            self.dst.mux(p)

    def finish(self) -> None:
        """Flush the encoder."""
        for p in self.stream.encode(None):
            self.dst.mux(p)
