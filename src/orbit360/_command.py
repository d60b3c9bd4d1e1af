"""The CLI's machinery around every command: path checks before it runs, the job scope
it runs in, and the one-line form of every error. Commands themselves live in ``cli.py``.

Every command of the ``cli`` group is an ``Orbit360Command``, so a command added later gets
the checks without asking for them: its input path parameters are refused unless regular
files (a FIFO or a device is never opened), its output path parameters (see
``OUTPUT_PARAMS``) must differ from its inputs and from each other, and everything it
writes through ``atomic_output`` is checked against everything it read through
``check_input_file`` (see ``_files.job_files``).
"""

from __future__ import annotations

from pathlib import Path

import click

from .errors import Orbit360Error

__all__ = ["OUTPUT_PARAMS", "Orbit360Command", "Orbit360Group", "error_line", "usage_message"]


# Path parameters that name files a command writes; every other path parameter is an input.
# A new command whose outputs use one of these names (or -o/--output) is checked by construction.
OUTPUT_PARAMS = frozenset({"output", "out_dir", "pto", "preview", "report_path", "site", "gyroflow"})


class Orbit360Command(click.Command):
    """A command whose files are checked before it runs, in one job scope (see _files.job_files).

    Before the body runs: every input path parameter that names a file must be a regular
    file (a FIFO or device is refused before anything opens it), and every output path must
    differ from every input (resolved path and inode: links and other spellings too) and
    from every other output. While it runs, ``atomic_output`` refuses any output, derived
    ones included (NAME.csv beside NAME.json, NAME.web.mp4), that is an input the command
    read. An EOFError from a parser is reported as a truncated file, not click's "Aborted!".
    """

    def invoke(self, ctx: click.Context) -> object:
        from ._files import job_files

        with job_files():
            self._check_paths(ctx)
            try:
                return super().invoke(ctx)
            except EOFError as exc:  # click would turn it into Abort: it is a file that ends early
                from .errors import InputError

                raise InputError(f"file ends unexpectedly ({exc})" if str(exc) else "file ends unexpectedly") from None
            except OSError as exc:
                if isinstance(exc, BrokenPipeError) or exc.filename is None:
                    raise
                raise _os_error(exc) from None

    def _check_paths(self, ctx: click.Context) -> None:
        import os

        from ._files import check_input_file, check_output_dir, check_outputs
        from .errors import InputError, OutputError

        outputs: list[Path] = []
        for param in self.params:
            value = ctx.params.get(param.name or "")
            if not isinstance(param.type, click.Path) or value is None:
                continue
            is_output = _is_output(param)
            for one in value if isinstance(value, (list, tuple)) else (value,):  # nargs=-1 / multiple=True
                p = Path(os.fsdecode(one))
                if is_output:
                    if p.is_dir() and not param.type.dir_okay:
                        raise OutputError("is a folder; give a file name", path=p)
                    if param.type.file_okay:  # not a folder parameter (demo -o)
                        outputs.append(p)
                elif p.is_dir():
                    if not param.type.dir_okay:
                        raise InputError("is a folder, expected a file", path=p)
                elif os.path.lexists(p) or param.type.exists:
                    # regular, readable, non-empty (a FIFO refused before it is opened);
                    # remembered as an input. A missing file is left to the command to name.
                    check_input_file(p)
        files = [out for out in outputs if not out.is_dir()]
        for out in files:  # a missing or read-only folder is found before any work is done
            check_output_dir(out)
        check_outputs(files)


def _is_output(param: click.Parameter) -> bool:
    """An output path parameter: named in OUTPUT_PARAMS, -o, or a click.Path(writable=True)."""
    name = param.name or ""
    return (name in OUTPUT_PARAMS or "-o" in param.opts or "--output" in param.opts
            or bool(getattr(param.type, "writable", False)) or name.startswith("output") or name.endswith("_output"))


def _os_error(exc: OSError) -> Orbit360Error:
    """A file-system error as one line naming the user's file: a hidden temporary
    (".NAME.xxxx.part.mp4") is named by its folder, which is what the user chose."""
    import errno
    import os

    from .errors import OutputError

    name = Path(os.fsdecode(exc.filename))
    if name.name.startswith("."):
        name = name.parent
    code = abs(exc.errno or 0)
    reason = exc.strerror or (os.strerror(code) if code else str(exc))
    writing = code in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM)
    return OutputError(f"cannot write: {reason}" if writing else reason, path=name)


class Orbit360Group(click.Group):
    command_class = Orbit360Command


def error_line(message: str) -> int:
    """Print ``orbit360: error: MESSAGE`` (control characters escaped: one line) and return 2."""
    from .errors import _ESCAPE_CONTROLS

    click.echo(f"orbit360: error: {message.translate(_ESCAPE_CONTROLS)}", err=True)
    return 2


def usage_message(exc: click.UsageError) -> str:
    """click's usage error as one line, "problem (see `orbit360 CMD --help`)", not its
    three-line Usage/Try/Error block."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    command = exc.ctx.command_path if exc.ctx is not None else "orbit360"
    return f"{message} (see `{command} --help`)"
