"""Hostile-use campaign: damaged, crafted and odd inputs through every command of the CLI.

Each case runs the real CLI (``python -m orbit360``) in a subprocess with a time limit and
is judged on the promises of the README:

- no traceback (exit status other than 0/2, "Traceback" or "internal error" on stderr),
- no hang (the time limit),
- an error is exactly one line ``orbit360: error: ...`` (no warning line before it, no
  click "Usage:/Try:" block),
- no input modified (a digest of every file in the case's folder taken before, compared after),
- no leftover temporary files (``.*.part*``) beside the outputs, and no error line that
  names one (``.clip.x1y2.enc.mp4``) instead of the user's file,
- no exit 0 with an MP4 output that holds no decodable frame.

Inputs are built from the real samples (cut down to a few frames so the slow commands stay
quick) and mutated with a seeded generator: truncations, byte flips in the moov, box sizes
overwritten, crafted boxes (brands that are not text, a timescale of 0x7FFFFFFF, damaged
stsd/stbl, 3 million empty boxes), tiny files, 2x1 and one-frame videos, a FIFO, a
directory, links of inputs given as outputs. ``--minutes`` bounds the run.

    nice .venv/bin/python bench/hostile/run.py --minutes 5 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("ORBIT360_SAMPLES", ROOT.parent / "shared" / "samples"))
if not SAMPLES.is_dir():
    SAMPLES = Path("/work/shared/samples")
TIME_LIMIT_S = 90.0


@dataclass
class Tally:
    cases: int = 0
    ok: int = 0
    errors: int = 0
    tracebacks: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    multiline: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    temp_named: list[str] = field(default_factory=list)
    empty_outputs: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


def digest_folder(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.is_symlink():
            out[p.name] = hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
    return out


def run_case(tally: Tally, label: str, args: list[str], folder: Path, inputs: list[str], *, serve: bool = False) -> None:
    """Run ``orbit360 ARGS`` in ``folder``; ``inputs`` are names there that must not change."""
    existing = digest_folder(folder)
    before = {k: v for k, v in existing.items() if k in inputs}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "orbit360", *args]
    tally.cases += 1
    tally.kinds[args[0]] += 1
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        if serve:  # the viewer serves until interrupted: started (a URL) or one error line
            try:
                out, err = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.terminate()
                out, err = proc.communicate(timeout=10)
                if "viewing" in out:
                    proc.returncode = 0
        else:
            out, err = proc.communicate(timeout=TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        tally.hangs.append(f"{label}: {' '.join(args)}")
        return
    finally:
        if proc.poll() is None:
            proc.kill()
    rc = proc.returncode
    lines = [line for line in err.strip().splitlines() if line.strip()]
    desc = f"{label}: orbit360 {' '.join(args)} -> rc {rc} ({time.monotonic() - start:.1f} s): {' | '.join(lines[-3:])[:300]}"
    if "Traceback" in err or "internal error" in err or rc not in (0, 2):
        tally.tracebacks.append(desc)
    elif rc == 2:
        tally.errors += 1
        if len(lines) != 1 or not lines[0].startswith("orbit360: error: "):
            tally.multiline.append(desc)
        elif re.search(r"/\.[^/ ]+\.(part|enc|encode|mdat)\b|\.orbit360-|/\.moov\.", lines[0]):
            tally.temp_named.append(desc)  # an internal temporary named to the user
    else:
        tally.ok += 1
        for out in set(digest_folder(folder)) - set(existing):  # what this command wrote
            if out.endswith(".mp4") and _frames(folder / out) == 0:
                tally.empty_outputs.append(f"{out} after {desc}")  # exit 0 with no picture
    after = digest_folder(folder)
    for name, d in before.items():
        if after.get(name) != d:
            tally.modified.append(f"{name} in {desc}")
    places = [folder, *(d for d in folder.iterdir() if d.is_dir() and not d.is_symlink())]
    left = [p for d in places for p in d.iterdir() if p.name.startswith(".") and (".part" in p.name or p.name.startswith(".orbit360-")
                                                                                 or p.name.endswith((".enc.mp4", ".encode.mp4", ".mdat")))]
    if left:
        tally.leftovers.append(f"{[str(p.relative_to(folder)) for p in left]} after {desc}")
        for p in left:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _frames(path: Path) -> int:
    """Video frames FFmpeg decodes from ``path`` (0 when it cannot open it)."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            return sum(1 for _ in c.decode(video=0)) if c.streams.video else 0
    except (av.error.FFmpegError, ValueError):
        return 0


# ---- inputs ---------------------------------------------------------------------------


def small_videos(work: Path) -> dict[str, Path]:
    """Short cuts of the real samples and a synthetic side-by-side clip, a few frames each."""
    sys.path.insert(0, str(ROOT / "src"))
    import av
    import numpy as np

    from orbit360.profile import RigProfile
    from orbit360.synthetic import make_scene, write_rig_video

    out: dict[str, Path] = {}
    sbs = work / "sbs.mp4"
    write_rig_video(sbs, RigProfile.nominal((512, 256)), make_scene(512, seed=3), frames=6, crf=30, preset="ultrafast")
    out["sbs"] = sbs
    for name, src, frames, width in (("forest", SAMPLES / "real" / "forest_equirect.mp4", 6, 512),
                                     ("hero7", SAMPLES / "gopro_hero7.mp4", 6, None),
                                     ("max", SAMPLES / "gopro_max-heromode.mp4", 6, None)):
        if not src.is_file():
            continue
        if width is None:  # keep the camera's own file (its GPMF and udta) but only its head
            out[name] = src
            continue
        dst = work / f"{name}.mp4"
        with av.open(str(src)) as c, av.open(str(dst), "w") as o:
            s = o.add_stream("libx264", rate=c.streams.video[0].average_rate or 30)
            s.width, s.height, s.pix_fmt, s.options = width, width // 2, "yuv420p", {"preset": "ultrafast"}
            for i, f in enumerate(c.decode(video=0)):
                if i >= frames:
                    break
                img = f.to_ndarray(format="rgb24")
                import cv2

                img = cv2.resize(img, (width, width // 2), interpolation=cv2.INTER_AREA)
                for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                    o.mux(p)
            for p in s.encode(None):
                o.mux(p)
        out[name] = dst
    # odd videos: 2x1, one frame
    for name, (w, h, n) in {"two_by_one": (2, 2, 3), "one_frame": (128, 64, 1)}.items():
        dst = work / f"{name}.mp4"
        with av.open(str(dst), "w") as o:
            s = o.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            for i in range(n):
                for p in s.encode(av.VideoFrame.from_ndarray(np.full((h, w, 3), 40 * i, np.uint8), format="rgb24")):
                    o.mux(p)
            for p in s.encode(None):
                o.mux(p)
        out[name] = dst
    return out


def _boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of every box, recursing into the usual containers."""
    found = []

    def walk(start: int, end: int) -> None:
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos : pos + 8])
            if size == 1 and pos + 16 <= end:
                size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            if size < 8 or pos + size > end:
                return
            found.append((pos, size, kind))
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf"):
                walk(pos + 8, pos + size)
            elif kind == b"stsd":
                walk(pos + 16, pos + size)
            pos += size

    walk(0, len(data))
    return found


def crafted(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """Named targeted damages of one healthy MP4."""
    boxes = _boxes(data)
    by = {}
    for off, size, kind in boxes:
        by.setdefault(kind, (off, size))
    out = []
    if b"ftyp" in by:
        off, size = by[b"ftyp"]
        b = bytearray(data)
        b[off + 8 : off + 12] = b"\xff\xff\xff\xff"
        out.append(("major-brand-ff", bytes(b)))
        if size >= 20:
            b = bytearray(data)
            b[off + 16 : off + 20] = b"\xff\xfe\xfd\xfc"
            out.append(("compatible-brand-ff", bytes(b)))
    for kind in (b"mdhd", b"mvhd"):
        for off, size, k in boxes:
            if k == kind:
                b = bytearray(data)
                version = b[off + 8]
                at = off + 12 + (16 if version == 1 else 8)
                b[at : at + 4] = struct.pack(">I", 0x7FFFFFFF)
                out.append((f"{kind.decode()}-timescale-max", bytes(b)))
                b2 = bytearray(data)
                b2[at : at + 4] = b"\0\0\0\0"
                out.append((f"{kind.decode()}-timescale-0", bytes(b2)))
                break
    for kind in (b"stsd", b"stsz", b"stco", b"stsc", b"stts", b"avcC", b"hvcC", b"stss", b"ctts", b"co64"):
        hits = [(off, size) for off, size, k in boxes if k == kind]
        for off, size in hits[:2]:
            for what in ("count-huge", "count-zero", "size-short", "garbage"):
                b = bytearray(data)
                if what == "count-huge" and size >= 16:
                    b[off + 12 : off + 16] = b"\x7f\xff\xff\xff"
                elif what == "count-zero" and size >= 16:
                    b[off + 12 : off + 16] = b"\0\0\0\0"
                elif what == "size-short":
                    b[off : off + 4] = struct.pack(">I", max(8, size // 3))
                elif what == "garbage":
                    for i in range(off + 8, min(off + size, off + 8 + 64)):
                        b[i] = rng.randrange(256)
                out.append((f"{kind.decode()}-{what}", bytes(b)))
    return out


def mutants(data: bytes, rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    moov = data.rfind(b"moov") - 4
    out = []
    for i in range(n):
        how = rng.choice(("cut", "flip-moov", "flip-head", "size", "cut+flip"))
        b = bytearray(data)
        if how in ("cut", "cut+flip"):
            b = b[: rng.randrange(0, len(b))]
        if how in ("flip-moov", "cut+flip") and moov > 0:
            for _ in range(rng.randint(1, 8)):
                j = min(len(b) - 1, moov + rng.randrange(0, max(1, len(data) - moov)))
                if j >= 0:
                    b[j] = rng.randrange(256)
        if how == "flip-head":
            for _ in range(rng.randint(1, 8)):
                j = rng.randrange(0, min(len(b), 4096))
                b[j] = rng.randrange(256)
        if how == "size" and len(b) > 16:
            j = rng.randrange(0, len(b) - 4)
            b[j : j + 4] = struct.pack(">I", rng.choice((0, 1, 7, 8, 9, 0xFFFFFFFF, rng.randrange(2**32))))
        out.append((f"mutant-{how}-{i}", bytes(b)))
    return out


def many_boxes(n: int) -> bytes:
    return b"\0\0\0\x08free" * n


# ---- commands -------------------------------------------------------------------------


def commands(name: str, kind: str) -> list[tuple[list[str], bool]]:
    """(args, serve) for every command that reads ``name``; outputs are fresh names."""
    stem = Path(name).stem
    cmds: list[tuple[list[str], bool]] = [
        (["inspect", name], False),
        (["inspect", "--json", name], False),
        (["salvage", name, "-o", f"{stem}.salv.mp4", "--report", f"{stem}.report.json", "-q"], False),
        (["telemetry", name, "-o", f"{stem}.tel.json", "--csv", "--gpx"], False),
        (["still", name, "-o", f"{stem}.still.jpg"], False),
        (["still", name, "--flat", "--size", "320x180", "-o", f"{stem}.flat.jpg"], False),
        (["reframe", name, "--size", "320x180", "--preset", "ultrafast", "--quiet", "-o", f"{stem}.ref.mp4"], False),
        (["publish", name, "--max-width", "256", "--preset", "ultrafast", "--quiet", "-o", f"{stem}.pub.mp4"], False),
        (["view", name, "--no-browser"], True),
    ]
    if kind in ("sbs", "all"):
        cmds += [
            (["stitch", name, "-o", f"{stem}.st.mp4", "--width", "256", "--preset", "ultrafast", "--quiet", "--lens", "rig.json"], False),
            (["calibrate", name, "-o", f"{stem}.rig.json", "--frames", "2"], False),
        ]
    return cmds


def write_case(folder: Path, name: str, data: bytes) -> None:
    for p in folder.iterdir():
        if p.name != "rig.json":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    (folder / name).write_bytes(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="stop starting new cases after this long")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mutants", type=int, default=6, help="random mutants per source per round")
    ap.add_argument("--crafted", type=int, default=12, help="crafted damages per source (of about 80, a seeded random pick)")
    ap.add_argument("--commands", help="only these commands (comma-separated), e.g. publish,still,reframe,view")
    ap.add_argument("--skip-fixed", action="store_true", help="skip the fixed cases (tiny files, links, FIFO ...)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failing case")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    deadline = time.monotonic() + a.minutes * 60
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="orbit360-hostile-") as tmp:
        work = Path(tmp)
        src_dir = work / "src"
        src_dir.mkdir()
        videos = small_videos(src_dir)
        case = work / "case"
        case.mkdir()
        sys.path.insert(0, str(ROOT / "src"))
        from orbit360.profile import RigProfile

        RigProfile.nominal((512, 256)).save(case / "rig.json")

        wanted = set(a.commands.split(",")) if a.commands else None

        def run_all(label: str, name: str, data: bytes, kind: str) -> None:
            for args, serve in commands(name, kind):
                if wanted is not None and args[0] not in wanted:
                    continue
                if time.monotonic() > deadline:
                    return
                write_case(case, name, data)
                run_case(tally, label, args, case, [name, "rig.json"], serve=serve)

        # 1. fixed hostile cases (each once)
        fixed_cases(tally, case, videos, skip=a.skip_fixed)
        # 2. crafted damage of each source (in a seeded random order, so that a short run
        # samples all kinds), then random mutants until the time is up
        for key in ("sbs", "forest", "hero7", "max"):
            if key in videos:
                data = videos[key].read_bytes()
                damages = crafted(data, rng)
                rng.shuffle(damages)
                for label, bad in damages[: a.crafted]:
                    if time.monotonic() > deadline:
                        break
                    run_all(f"{key}/{label}", "x.mp4", bad, "sbs" if key == "sbs" else "flat")
        round_ = 0
        while time.monotonic() < deadline:
            round_ += 1
            for key in ("sbs", "forest", "hero7", "max"):
                if key not in videos:
                    continue
                data = videos[key].read_bytes()
                for label, bad in mutants(data, rng, a.mutants):
                    if time.monotonic() > deadline:
                        break
                    run_all(f"{key}/r{round_}/{label}", "x.mp4", bad, "sbs" if key == "sbs" else "flat")
    report(tally, a.verbose)
    bad = tally.tracebacks + tally.hangs + tally.multiline + tally.modified + tally.leftovers + tally.temp_named + tally.empty_outputs
    return 1 if bad else 0


def fixed_cases(tally: Tally, case: Path, videos: dict[str, Path], *, skip: bool) -> None:
    """Tiny files, 3 million boxes, odd videos, outputs that are inputs, FIFOs and folders."""
    if skip:
        return

    def run_all(label: str, name: str, data: bytes, kind: str) -> None:
        for args, serve in commands(name, kind):
            write_case(case, name, data)
            run_case(tally, label, args, case, [name, "rig.json"], serve=serve)

    fixed: list[tuple[str, bytes]] = [(f"tiny-{n}", os.urandom(n)) for n in range(1, 8)]
    fixed += [("tiny-ftyp", b"\0\0\0\x08ftyp"), ("boxes-3M", many_boxes(3_000_000))]
    for label, data in fixed:
        for args, serve in commands("x.mp4", "all")[:4]:
            write_case(case, "x.mp4", data)
            run_case(tally, label, args, case, ["x.mp4"], serve=serve)
    for key in ("two_by_one", "one_frame"):
        run_all(key, "x.mp4", videos[key].read_bytes(), "all")
    # outputs that are inputs, by name, link and spelling
    write_case(case, "in.mp4", videos["forest"].read_bytes())
    os.link(case / "in.mp4", case / "hard.mp4")
    os.symlink("in.mp4", case / "sym.mp4")
    (case / "sub").mkdir()
    for out in ("in.mp4", "hard.mp4", "sym.mp4", "sub/../in.mp4", "./in.mp4"):
        for args in (["reframe", "in.mp4", "--size", "64x32", "-o", out], ["still", "in.mp4", "-o", out],
                     ["publish", "in.mp4", "-o", out], ["telemetry", "in.mp4", "-o", out],
                     ["stitch", "in.mp4", "-o", out], ["salvage", "in.mp4", "-o", "s.mp4", "--report", out],
                     ["calibrate", "in.mp4", "-o", "r.json", "--pto", out]):
            run_case(tally, "out-is-in", args, case, ["in.mp4"])
    os.mkfifo(case / "fifo.mp4")
    for args in (["inspect", "fifo.mp4"], ["stitch", "in.mp4", "-o", "o.mp4", "--lens", "fifo.mp4"],
                 ["reframe", "in.mp4", "-o", "o.mp4", "--path", "fifo.mp4"], ["salvage", "fifo.mp4", "--reference", "in.mp4"],
                 ["inspect", "/dev/zero"], ["inspect", "."], ["stitch", "in.mp4", "-o", "."], ["stitch", "in.mp4", "-o", "o.mp4", "--width", "63"],
                 ["still", "in.mp4", "--flat", "--size", "100000x100000", "-o", "big.jpg"],
                 ["reframe", "in.mp4", "--size", "100000x56250", "-o", "big.mp4"]):
        run_case(tally, "odd-path", args, case, ["in.mp4"])
    (case / "fifo.mp4").unlink()
    disk_cases(tally, case, videos)


def disk_cases(tally: Tally, case: Path, videos: dict[str, Path]) -> None:
    """A full disk (1 MB tmpfs, filled) and a read-only one as output folders. Needs root
    to mount; skipped (and said so) otherwise."""
    full, ro = case / "full", case / "ro"
    full.mkdir()
    ro.mkdir()
    mounted = []
    try:
        for folder, opts in ((full, "size=1m"), (ro, "size=1m,ro")):
            if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)], capture_output=True).returncode == 0:
                mounted.append(folder)
        if len(mounted) < 2:
            print("disk cases skipped: mounting a tmpfs needs root")
            return
        subprocess.run(["dd", "if=/dev/zero", f"of={full / 'fill'}", "bs=64k"], capture_output=True)
        hero = videos.get("hero7")
        if hero is not None:
            (case / "broken.mp4").write_bytes(hero.read_bytes()[:2_000_000])
        (case / "sbs.mp4").write_bytes(videos["sbs"].read_bytes())
        for where in ("full", "ro"):
            cases = [["demo", "-o", f"{where}/demo", "--frames", "30", "--quiet"],
                     ["still", "in.mp4", "-o", f"{where}/s.jpg"],
                     ["reframe", "in.mp4", "--size", "320x180", "--preset", "ultrafast", "-o", f"{where}/r.mp4"],
                     ["publish", "in.mp4", "--max-width", "256", "--preset", "ultrafast", "-o", f"{where}/p.mp4"],
                     ["stitch", "sbs.mp4", "--width", "256", "--preset", "ultrafast", "--lens", "rig.json", "-o", f"{where}/o.mp4"],
                     ["calibrate", "sbs.mp4", "--frames", "2", "-o", f"{where}/rig.json"]]
            if hero is not None:
                cases += [["salvage", "broken.mp4", "-o", "salvaged.mp4", "--report", f"{where}/r.json", "-q"],
                          ["salvage", "broken.mp4", "-o", f"{where}/s.mp4", "-q"],
                          ["telemetry", str(hero), "-o", f"{where}/t.json", "--csv"]]
            for args in cases:
                run_case(tally, f"disk-{where}", args, case, ["in.mp4", "broken.mp4", "sbs.mp4", "rig.json"])
                (case / "salvaged.mp4").unlink(missing_ok=True)
    finally:
        for folder in mounted:
            subprocess.run(["umount", str(folder)], capture_output=True)


def report(tally: Tally, verbose: bool) -> None:
    print(f"cases run:        {tally.cases} ({', '.join(f'{k} {n}' for k, n in sorted(tally.kinds.items()))})")
    print(f"worked (exit 0):  {tally.ok}")
    print(f"one-line errors:  {tally.errors}")
    print(f"tracebacks:       {len(tally.tracebacks)}")
    print(f"hangs:            {len(tally.hangs)}")
    print(f"multi-line errors:{len(tally.multiline):>2}")
    print(f"modified inputs:  {len(tally.modified)}")
    print(f"temp files left:  {len(tally.leftovers)}")
    print(f"temps in errors:  {len(tally.temp_named)}")
    print(f"empty outputs:    {len(tally.empty_outputs)}")
    bad = tally.tracebacks + tally.hangs + tally.multiline + tally.modified + tally.leftovers + tally.temp_named + tally.empty_outputs
    for line in (bad if verbose else bad[:30]):
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
