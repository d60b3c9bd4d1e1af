"""The ``orbit360`` command line: parses, composes library calls, reports. No logic here.

Every command imports its heavy modules (av, cv2, dask) inside its body, so ``--help``
stays instant. Errors funnel through ``main``: an ``Orbit360Error`` becomes one line on
stderr, ``orbit360: error: FILE: problem``, and exit code 2, with no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ._codecs import CODECS, ENCODERS, CodecConflict, codec_for
from ._command import Orbit360Group, error_line, usage_message
from .errors import Orbit360Error
from .orient.modes import OrientMode

__all__ = ["main", "cli"]


@click.group(cls=Orbit360Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orbit360")
def cli() -> None:
    """orbit360: salvage, stitch, orient and publish 360-camera footage."""


# ---- commands (each body: a few library calls) ----------------------------------------
# COMMANDS-BELOW (keep this marker; add new commands after it)


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Rig profile JSON to write.")
@click.option("--pto", type=click.Path(dir_okay=False, path_type=Path), help="Also write the rig as a Hugin project.")
@click.option("--gyroflow", type=click.Path(dir_okay=False, path_type=Path), help="Also write NAME_front.json and NAME_back.json Gyroflow lens profiles (one per lens).")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG of the stitch with seam and overlap drawn.")
@click.option("--frames", "n_frames", default=12, show_default=True, type=click.IntRange(1, 64), help="Frames spread over the video to use.")
@click.option("--prior", type=click.Path(dir_okay=False, path_type=Path), help="Starting rig: orbit360 rig JSON or Gyroflow lens profile.")
@click.option("--fov", type=click.FloatRange(150.0, 260.0), help="Keep this field of view (degrees) instead of estimating it.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write a photometric quality report (JSON): exposure kept, seam step, overlap rejected.")
def calibrate(video: Path, output: Path, pto: Path | None, gyroflow: Path | None, preview: Path | None, n_frames: int, prior: Path | None, fov: float | None,
              report_path: Path | None) -> None:
    """Estimate the rig profile of a side-by-side dual-fisheye VIDEO from its footage alone."""
    import json

    from ._files import atomic_output, check_input_file
    from .errors import file_context
    from .stitch.calibrate import calibrate_rig, load_prior, read_calibration_frames

    if preview is not None and preview.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        from .errors import OutputError  # before anything is computed or written

        raise OutputError("--preview is a picture: name it .png or .jpg", path=preview)
    with file_context(video):
        check_input_file(video)
        frames, size = read_calibration_frames(video, n_frames)
        nominal = load_prior(prior, size, fov_deg=fov) if prior else None
        if nominal is None and fov:
            from .profile import RigProfile

            nominal = RigProfile.nominal(size, fov_deg=fov)
        result = calibrate_rig(frames, size, nominal=nominal, max_frames=n_frames, fit_fov=fov is None)
    click.echo(result.summary())
    result.rig.save(output)
    click.echo(f"wrote {output}")
    if report_path:
        from .stitch.report import photometric_report, summary_line

        report = photometric_report(result.rig, frames[:: max(1, len(frames) // 4)][:4])
        with atomic_output(report_path) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(summary_line(report))
        click.echo(f"wrote {report_path}")
    if pto:
        from .stitch.interop import write_pto

        write_pto(result.rig, pto)
        click.echo(f"wrote {pto}")
    if gyroflow:
        from .stitch.interop import write_gyroflow

        for written in write_gyroflow(result.rig, gyroflow):
            click.echo(f"wrote {written}")
    if preview:
        from .stitch.preview import write_calibration_preview

        caption = f"{video.name}: ray residual {result.residual_deg:.3f} deg, {result.matches} tracks\nred = seam, yellow = overlap band"
        write_calibration_preview(result.rig, frames[len(frames) // 2], preview, caption=caption)
        click.echo(f"wrote {preview}")


@cli.command()
@click.argument("broken", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file (default NAME.salvaged.mp4 beside the input; a folder for folder input).")
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path), help="A healthy file of the same camera mode (needed for non-GoPro files).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report as JSON here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def salvage(broken: Path, output: Path | None, reference: Path | None, report_path: Path | None, quiet: bool) -> None:
    """Rebuild BROKEN, a recording whose camera died mid-write, as a playable MP4.

    BROKEN may be a folder (a GoPro DCIM/100GOPRO): every broken file in it is salvaged,
    with a healthy sibling as reference where one is needed.
    """
    import json

    from ._console import info, progress_bar
    from .salvage import salvage as salvage_file, salvage_folder

    with progress_bar("salvaging", quiet=quiet, unit="bytes") as update:
        if broken.is_dir():
            reports = salvage_folder(broken, output, progress=update)
        else:
            reports = [salvage_file(broken, output, reference=reference, progress=update)]
    for r in reports:
        info(f"{r.input} -> {r.output or 'nothing recovered'}" + (f" (reference {r.reference})" if r.reference else ""))
        info(r.format_table())
    if report_path is not None:
        payload = [r.to_dict() for r in reports]
        from ._files import atomic_output

        with atomic_output(report_path) as tmp:
            tmp.write_text(json.dumps(payload[0] if len(payload) == 1 and not broken.is_dir() else payload, indent=2) + "\n")


def _size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    from .reframe import parse_size

    try:
        return None if value is None else parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _angles_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float, float] | None:
    from .reframe import parse_angles

    try:
        return None if value is None else parse_angles(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from .timerange import parse_time

    try:
        return None if value is None else parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _range_options(f):  # type: ignore[no-untyped-def]
    """``--from``/``--to`` (seconds or h:mm:ss.fff) on a command."""
    f = click.option("--to", "stop_s", callback=_time_option, metavar="T", help="End the output at this time of the recording (seconds or h:mm:ss.fff).")(f)
    return click.option("--from", "start_s", callback=_time_option, metavar="T", help="Start the output at this time of the recording (seconds or h:mm:ss.fff).")(f)


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="0: a free port", help="Port on 127.0.0.1.")
@click.option("--no-browser", is_flag=True, help="Print the URL without opening a browser.")
def view(video: Path, port: int, no_browser: bool) -> None:
    """Play a 360 VIDEO in the browser: drag or arrows to look, wheel to zoom, P for planet.

    Serves on 127.0.0.1 only, until Ctrl-C. Plays VIDEO's web rendition (NAME.web.mp4,
    from `orbit360 publish`) when there is one.
    """
    from ._console import warn
    from .publish import pick_viewable
    from .viewer import ViewerServer

    source, note = pick_viewable(video)
    server = ViewerServer(source, port=port)
    if note:
        warn(note)
    click.echo(f"viewing {source.name} at {server.url}  (Ctrl-C to stop)")
    server.serve_until_interrupted(None if no_browser else server.open_in_browser)


@cli.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The flat MP4 to write.")
@click.option("--size", callback=_size_option, help="WIDTHxHEIGHT  [default: 1920x1080; 1080x1080 with --planet]")
@click.option("--fov", type=click.FloatRange(1, 359), help="Full-width field of view, degrees  [default: 90; 280 with --planet]")
@click.option("--look", callback=_angles_option, help="YAW,PITCH[,ROLL] degrees  [default: 0,0,0; 0,-90,0 with --planet]")
@click.option("--path", "path_file", type=click.Path(dir_okay=False, path_type=Path), help='Keyframes JSON: {"keyframes": [{"t", "yaw", "pitch", "roll", "fov"}, ...]}.')
@click.option("--planet", is_flag=True, help="Stereographic little planet instead of a flat view.")
@click.option("--crf", type=click.IntRange(0, 51), default=20, show_default=True)
@click.option("--preset", default="medium", show_default=True, help="x264 preset.")
@_range_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reframe(
    src: Path, output: Path, size: tuple[int, int] | None, fov: float | None, look: tuple[float, float, float] | None,
    path_file: Path | None, planet: bool, crf: int, preset: str, start_s: float | None, stop_s: float | None, quiet: bool,
) -> None:
    """Cut a flat 16:9 (or little-planet) H.264 video out of the 360 video SRC, audio kept."""
    from ._console import progress_bar
    from .reframe import DEFAULT_FOV, DEFAULT_LOOK, DEFAULT_SIZE, Projection, ViewPath, load_view_path, reframe_video
    from .video import EncodeOptions

    projection = Projection.PLANET if planet else Projection.FLAT
    fov = fov or DEFAULT_FOV[projection]
    if path_file and look:
        raise click.UsageError("--look and --path exclude each other (the keyframes give the look)")
    path = load_view_path(path_file, default_fov=fov) if path_file else ViewPath.fixed(*(look or DEFAULT_LOOK[projection]), fov=fov)
    try:
        with progress_bar("reframing", quiet=quiet) as update:
            reframe_video(src, output, path=path, size=size or DEFAULT_SIZE[projection], projection=projection,
                          options=EncodeOptions(crf=crf, preset=preset, encoder="libx264"), progress=update,
                          start_s=start_s, stop_s=stop_s)
    except Orbit360Error:
        raise  # a damaged file (CorruptBoxError is a ValueError too) is not a usage error
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not quiet:
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--at", "at", type=click.FloatRange(0), default=0.0, show_default=True, help="Time in seconds.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="JPEG to write  [default: SRC_<at>s.jpg]")
@click.option("--flat", is_flag=True, help="A flat view (see --look, --fov, --size) instead of the photo sphere.")
@click.option("--look", callback=_angles_option, help="YAW,PITCH[,ROLL] degrees for --flat  [default: 0,0,0]")
@click.option("--fov", type=click.FloatRange(1, 179), default=90, show_default=True, help="Full-width FOV for --flat.")
@click.option("--size", callback=_size_option, help="WIDTHxHEIGHT for --flat  [default: 1920x1080]")
@click.option("--quality", type=click.IntRange(1, 100), default=92, show_default=True, help="JPEG quality.")
def still(src: Path, at: float, output: Path | None, flat: bool, look: tuple[float, float, float] | None,
          fov: float, size: tuple[int, int] | None, quality: int) -> None:
    """Save the frame at --at seconds of SRC as a photo-sphere JPEG (GPano XMP), or a flat view."""
    from .geometry.rotation import Rotation
    from .reframe import render_view
    from .still import read_equirect_frame_at, write_jpeg, write_photosphere

    output = output or src.with_name(f"{src.stem}_{at:.2f}s.jpg")
    frame = read_equirect_frame_at(src, at)
    if flat:
        view = render_view(frame, size=size or (1920, 1080), rotation=Rotation.from_ypr(*(look or (0, 0, 0))), fov_deg=fov)
        write_jpeg(view, output, quality=quality)
    else:
        write_photosphere(frame, output, quality=quality)
    click.echo(f"wrote {output}")


@cli.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Rendition to write  [default: SRC's NAME.web.mp4]")
@click.option("--max-width", type=click.IntRange(256, 16384), default=4096, show_default=True, help="Widest output (phones cap textures at 4096).")
@click.option("--crf", type=click.IntRange(0, 51), default=21, show_default=True)
@click.option("--preset", default="medium", show_default=True, help="x264 preset.")
@click.option("--site", type=click.Path(file_okay=False, path_type=Path), help="Write a static web folder instead (viewer page, script, web rendition, poster) and print the HTML that embeds it.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def publish(src: Path, output: Path | None, max_width: int, crf: int, preset: str, site: Path | None, quiet: bool) -> None:
    """Write the web rendition of the 360 video SRC: H.264, <= 4096 wide, spherical metadata, moov first."""
    from ._console import progress_bar
    from .publish import publish_site, publish_web

    if site is not None:
        if output is not None:
            raise click.UsageError("--site and -o exclude each other (the rendition goes into the site)")
        with progress_bar("publishing", quiet=quiet) as update:
            r = publish_site(src, site, max_width=max_width, crf=crf, preset=preset, progress=update)
        click.echo(f"wrote {r.folder}/: {', '.join(r.files)}")
        click.echo("host the folder as it is on any static web server; embed it with:")
        click.echo(r.snippet)
        return

    with progress_bar("publishing", quiet=quiet) as update:
        out = publish_web(src, output, max_width=max_width, crf=crf, preset=preset, progress=update)
    click.echo(f"wrote {out}")


@cli.command()
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default="orbit360-demo", show_default=True, help="Folder for the demo's files.")
@click.option("--frames", type=click.IntRange(30, 3000), default=200, show_default=True, help="Frames the camera records (30 fps) before it dies.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(out_dir: str, frames: int, quiet: bool) -> None:
    """Record a synthetic dual-lens clip, kill the camera mid-write, salvage, calibrate, stitch, publish."""
    from ._console import progress_bar
    from .demo import run_demo

    with progress_bar("stitching", quiet=quiet) as update:
        r = run_demo(out_dir, frames=frames, progress=update)
    click.echo("\n".join(r.lines()))


@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The 360 MP4 to write.")
@click.option("--lens", type=click.Path(dir_okay=False), help="Rig profile JSON (from `orbit360 calibrate`).")
@click.option("--width", type=click.IntRange(64, 16384), help="Output width (height = width / 2), rounded down to a multiple of 4; default: input width.")
@click.option("--codec", type=click.Choice(sorted(CODECS)), show_default="h264, or the --encoder's codec")
@click.option("--crf", type=click.IntRange(0, 51), default=20, show_default=True)
@click.option("--preset", default="medium", show_default=True, help="x264/x265 preset.")
@click.option("--encoder", type=click.Choice(ENCODERS), default=ENCODERS[0], show_default=True, help="auto: NVENC when a GPU encoder opens, else libx264/libx265.")
@click.option("--segment-frames", type=click.IntRange(1, None), help="Stitch in segments of N frames (resumable; joined without re-encoding)  [default with --workers/--scheduler: 600]")
@click.option("--workers", type=click.IntRange(1, 1024), help="Local worker processes for the segments  [default: one per core]")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run the segments on this Dask cluster (workers must share INPUT's and OUTPUT's filesystem; needs orbit360[dask]).")
@click.option("--orient", type=click.Choice([m.value for m in OrientMode]), default=OrientMode.OFF.value, show_default=True, help="lock: hold horizon and heading; smooth: remove shake, keep turns (from the camera's gyro/orientation telemetry); earth: in orbit, the Earth's centre straight down (found in the frames), heading from the gyro.")
@click.option("--web", is_flag=True, help="Also write the H.264 web rendition (<= 4096 wide, faststart) beside OUTPUT.")
@click.option("--reference", type=click.Path(dir_okay=False), help="Healthy clip of the same camera mode, used if INPUT must be salvaged first.")
@_range_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def stitch(input: str, output: str, lens: str | None, width: int | None, codec: str | None, crf: int, preset: str, encoder: str,
           segment_frames: int | None, workers: int | None, scheduler: str | None, orient: str, web: bool, reference: str | None,
           start_s: float | None, stop_s: float | None, quiet: bool) -> None:
    """Stitch dual-lens INPUT (a file, a GoPro Fusion/Insta360 pair or chapter set) to an
    equirectangular 360 MP4 with spherical metadata; a dual-lens photo (a GoPro Fusion
    GF/GB pair, by either name, or one side-by-side JPEG) to a photo-sphere JPEG.

    A recording whose moov is missing (the camera lost power) is salvaged first.

    Without --lens the rig is self-calibrated once from the footage. With --segment-frames,
    --workers or --scheduler the job runs in segments; after a crash, the same command
    again reuses the finished segments.
    """
    from ._console import progress_bar, warn
    from .profile import RigProfile
    from .video import EncodeOptions

    try:
        options = EncodeOptions(codec=codec_for(encoder, codec), crf=crf, preset=preset, encoder=encoder)
    except CodecConflict as exc:
        raise click.BadParameter(f"--encoder {exc.encoder} writes {exc.writes}, not {exc.asked}", param_hint="--codec") from None
    rig = RigProfile.load(lens) if lens else None
    from .cameras import is_photo

    if is_photo(input):  # a dual-lens photo (Fusion GF/GB pair or one JPEG) -> photo sphere
        from .pipeline.photo import stitch_photo

        p = stitch_photo(input, output, rig=rig, width=width, log=warn)
        if not quiet:
            click.echo(p.summary())
        return
    if web:  # the rendition beside OUTPUT must not be an input either: refuse before stitching
        from ._files import check_not_input
        from .publish import web_rendition_path

        check_not_input(web_rendition_path(output))
    from .pipeline import stitch as stitch_job
    from .publish import finish_publication

    with progress_bar("stitching", quiet=quiet) as update:
        r = stitch_job(input, output, rig=rig, width=width, options=options, orient=orient, start_s=start_s, stop_s=stop_s,
                       segment_frames=segment_frames, workers=workers, scheduler=scheduler, reference=reference,
                       progress=update, log=warn, job_log=click.echo)
    lines = [r.summary(), *finish_publication(output, web=web)]
    if not quiet:
        click.echo("\n".join(lines))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect(file: str, as_json: bool) -> None:
    """Describe FILE: container, tracks, layout, spherical metadata."""
    import json

    from .inspect import inspect_file

    info = inspect_file(file)
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=2))
        return
    click.echo("\n".join(info.lines()))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON file to write.")
@click.option("--csv", "csv", is_flag=True, help="Also write OUTPUT with suffix .csv (stream,t,v0,v1,...).")
@click.option("--gpx", "gpx", is_flag=True, help="Also write OUTPUT with suffix .gpx (GPS fixes with a lock).")
@_range_options
def telemetry(file: Path, output: Path, csv: bool, gpx: bool, start_s: float | None, stop_s: float | None) -> None:
    """Export the GPMF telemetry of FILE: one JSON member per numeric stream, {"t", "values"}."""
    from .telemetry import export_telemetry

    summary = export_telemetry(file, output, csv=csv, gpx=gpx, start_s=start_s, stop_s=stop_s)
    click.echo(", ".join(f"{k} {n}" for k, n in summary.counts.items()) or "no numeric streams")
    click.echo("wrote " + ", ".join(summary.outputs))


def _duration_option(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from .timerange import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Sheet to write (JPEG; its JSON beside it)  [default: NAME.overview.jpg beside the recording]")
@click.option("--every", "every_s", default="30s", show_default=True, callback=_duration_option, help="One thumbnail per this much time (30s, 2m, 0:05:00).")
@click.option("--thumb-width", type=click.IntRange(64, 2048), default=320, show_default=True, help="Width of each stitched view (height: half).")
@click.option("--columns", type=click.IntRange(1, 64), default=6, show_default=True)
@click.option("--lens", type=click.Path(dir_okay=False, path_type=Path), help="Rig profile JSON  [default: the camera's nominal rig]")
@click.option("--reference", type=click.Path(dir_okay=False), help="Healthy clip of the same camera mode, used if RECORDING must be salvaged first.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def overview(recording: Path, output: Path | None, every_s: float, thumb_width: int, columns: int, lens: Path | None,
             reference: str | None, quiet: bool) -> None:
    """A contact sheet of RECORDING (a file, a lens pair, a MAX .360, chapters): small
    stitched views from key frames only, each with its time, and the same as JSON.

    A recording whose moov is missing (the camera lost power) is salvaged first, to a
    temporary file."""
    from ._console import progress_bar, warn
    from .overview import make_overview
    from .profile import RigProfile
    from .salvage import salvaged_if_broken

    rig = RigProfile.load(lens) if lens else None
    out = output or recording.with_name(f"{recording.stem}.overview.jpg")
    with salvaged_if_broken(recording, beside=out, reference=reference, log=warn) as playable:
        with progress_bar("overview", quiet=quiet, unit="thumbnails") as update:
            o = make_overview(playable, out, every_s=every_s, thumb_width=thumb_width, columns=columns, rig=rig, progress=update)
    if not quiet:
        click.echo(f"wrote {out} and {out.with_suffix('.json')}: {len(o.thumbnails)} thumbnails over {o.duration_s:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    from ._console import deferred_warnings

    args = list(sys.argv[1:] if argv is None else argv)
    with deferred_warnings() as warnings:
        try:
            cli.main(args=args, prog_name="orbit360", standalone_mode=False)
        except Orbit360Error as exc:
            warnings.drop()  # the error is the one line that matters
            return error_line(str(exc))
        except click.exceptions.Abort:
            click.echo("orbit360: aborted", err=True)
            return 130
        except click.UsageError as exc:
            warnings.drop()
            return error_line(usage_message(exc))
        except click.ClickException as exc:
            warnings.drop()
            return error_line(exc.format_message())
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except KeyboardInterrupt:
            click.echo("orbit360: interrupted", err=True)
            return 130
        except BrokenPipeError:
            return 1
        except MemoryError:
            warnings.drop()
            return error_line("out of memory (try a smaller --width or --size)")
    return 0


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entrypoint()
