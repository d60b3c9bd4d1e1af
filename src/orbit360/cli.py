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

from .errors import Orbit360Error

__all__ = ["main", "cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orbit360")
def cli() -> None:
    """orbit360: salvage, stitch, orient and publish 360-camera footage."""


# ---- commands (each body: a few library calls) ----------------------------------------
# COMMANDS-BELOW (keep this marker; add new commands after it)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON file to write.")
@click.option("--csv", "csv", is_flag=True, help="Also write OUTPUT with suffix .csv (stream,t,v0,v1,...).")
@click.option("--gpx", "gpx", is_flag=True, help="Also write OUTPUT with suffix .gpx (GPS fixes with a lock).")
def telemetry(file: Path, output: Path, csv: bool, gpx: bool) -> None:
    """Export the GPMF telemetry of FILE: one JSON member per numeric stream, {"t", "values"}."""
    from .telemetry import export_telemetry

    summary = export_telemetry(file, output, csv=csv, gpx=gpx)
    click.echo(", ".join(f"{k} {n}" for k, n in summary.counts.items()) or "no numeric streams")
    click.echo("wrote " + ", ".join(summary.outputs))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="orbit360", standalone_mode=False)
    except Orbit360Error as exc:
        click.echo(f"orbit360: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("orbit360: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("orbit360: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 1
    return 0


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entrypoint()
