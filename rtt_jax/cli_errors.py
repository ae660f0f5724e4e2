"""Bad input to a command-line tool ends in one line on stderr, never a traceback.

docs/design.md, "One-line errors": a file, flag or output path that
cannot be used gives one line that names it, and a non-zero exit status. A
traceback is for developers: it is printed too only with absl's
``--verbosity=1``. Every CLI uses absl flags and runs its body through
``run_reporting``: those started by ``app.run`` parse their flags with
``flags_parser``, and those whose ``main(argv)`` tests call in-process with
``parse_flags`` (a private ``FlagValues``, so calls do not collide). A new
CLI gets the same treatment by doing the same; ``tests/test_cli_bad_input.py`` holds the table of bad inputs they must
survive.

What counts as bad input here (``BAD_INPUT``): ``OSError`` (missing or
unreadable files, a file where a directory should be, a full disk, a
read-only file system), ``ValueError`` (which covers the project's own format
errors and ``UnicodeDecodeError``), ``KeyError`` (an unknown name),
``RecursionError``. Anything else is a bug and keeps its traceback.

* ``error_line(e, path)``: the one line, ``error: <what>``; an ``OSError``
  is ``<file>: <reason>``, and when it names no file (a write that hits a full
  disk) the ``path`` the tool was writing.
* ``make_output_dir(path, flag)``: before any work, create the output
  directory (or refuse one that is a file, sits under a file, or cannot be
  written), so a bad ``--out`` fails in a second, not after an hour's run.
* ``naming(path)``: attach ``path`` to an ``OSError`` raised inside that names
  no file.
* ``EmptyInputError``: an input with no records is an error unless the tool's
  ``--allow_empty`` flag says otherwise.
* ``user_code(what)``: a Python file the user names (an experiment file) that
  fails to load is bad input too: any exception becomes a ValueError naming it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import traceback
from typing import Any, Callable, Iterator, NoReturn, Sequence

from rtt_jax import paths

BAD_INPUT = (OSError, ValueError, KeyError, RecursionError)
EXIT_BAD_INPUT = 2
_MAX_CHARS = 600  # one line stays readable; the traceback has the rest


class EmptyInputError(ValueError):
    """An input file (or source) that holds no records."""

    def __init__(self, path: str, what: str = "records", flag: str = "--allow_empty"):
        super().__init__(f"{path}: no {what} (empty input); pass {flag} to accept that")


def _squeeze(text: str) -> str:
    return " ".join(text.split())[:_MAX_CHARS]


def _unquote(text: str) -> str:
    """A message that arrives as a repr (ml_collections' KeyErrors) made plain."""
    text = _squeeze(text.replace("\\n", " ").replace("\\'", "'"))
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def error_line(e: BaseException, path: str | None = None) -> str:
    """``error: ...`` for an exception from bad input: one line naming the file."""
    if isinstance(e, OSError):
        reason = e.strerror or _squeeze(str(e)) or type(e).__name__
        where = e.filename if e.filename is not None else path
        if where is None:
            return f"error: {reason}"
        if e.filename2 is not None:
            return f"error: {where} -> {e.filename2}: {reason}"
        return f"error: {where}: {reason}"
    if isinstance(e, RecursionError):  # readers cap nesting first; this is the backstop
        return "error: input nested too deeply to read"
    if isinstance(e, KeyError) and e.args:
        return f"error: {_squeeze(str(e.args[0]))}"
    return f"error: {_squeeze(str(e)) or type(e).__name__}"


def absl_verbosity() -> int:
    """absl's ``--verbosity`` if absl is in use and flags are parsed, else 0."""
    absl_flags = sys.modules.get("absl.flags")
    if absl_flags is None:
        return 0
    try:
        return int(absl_flags.FLAGS.verbosity)
    except (AttributeError, absl_flags.Error):
        return 0


def report(e: BaseException, path: str | None = None, verbosity: int | None = None) -> int:
    """Print the error line (and, when verbose, the traceback); the exit status."""
    print(error_line(e, path), file=sys.stderr, flush=True)
    if (absl_verbosity() if verbosity is None else verbosity) >= 1:
        traceback.print_exception(e, file=sys.stderr)
    return EXIT_BAD_INPUT


def run_reporting(body: Callable[[], Any], path: str | None = None,
                  verbosity: int | None = None) -> int:
    """Run ``body``; its int result is the exit status (None is 0). Bad input
    is reported as one line (naming ``path`` if the error names no file) and
    gives ``EXIT_BAD_INPUT``."""
    try:
        status = body()
    except BAD_INPUT as e:
        return report(e, path, verbosity)
    return status if isinstance(status, int) else 0


@contextlib.contextmanager
def naming(path: str) -> Iterator[None]:
    """An OSError raised inside that names no file (``write`` on a full disk
    raises ENOSPC without one) is re-raised naming ``path``."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            e.filename = path
        raise


def usage_error(message: str, prog: str) -> NoReturn:
    """A bad flag or argument: one line, exit status ``EXIT_BAD_INPUT``."""
    print(f"error: {_squeeze(message)} (usage: {prog} --help)", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def parse_flags(argv: Sequence[str], define: Callable[[Any], None], prog: str,
                usage: str = "") -> tuple[Any, list[str]]:
    """absl flags for a CLI whose ``main(argv)`` may run more than once in a
    process (tests call it): ``define(fv)`` defines the flags on a fresh
    ``absl.flags.FlagValues``, which parses ``argv`` (without the program
    name). Returns (the flag values, the positional arguments). A flag error
    is one line (``usage_error``); ``--help`` prints the flags and exits 0.
    ``--verbosity=1`` (as in the ``app.run`` CLIs) adds tracebacks to error
    lines: pass ``fv.verbosity`` to ``run_reporting``."""
    from absl import flags
    fv = flags.FlagValues()
    define(fv)
    flags.DEFINE_integer("verbosity", 0, "1: print the traceback after an error line",
                         flag_values=fv)
    if any(a in ("--help", "-h", "--helpfull") for a in argv):
        print(f"usage: {prog} {usage}[flags]\n\n{fv.get_help()}")
        raise SystemExit(0)
    try:
        rest = fv([prog, *argv])
    except flags.Error as e:
        usage_error(str(e), prog)
    return fv, rest[1:]


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Exceptions raised while loading a user's Python file (a syntax error,
    null bytes, a failing import) become one ValueError naming ``what``."""
    try:
        yield
    except BAD_INPUT:
        raise
    except Exception as e:  # the file is user code: any error is bad input
        where = f"{e.filename}:{e.lineno}: " if isinstance(e, SyntaxError) and e.filename else ""
        raise ValueError(f"{what}: cannot load ({where}{type(e).__name__}: "
                         f"{_squeeze(str(e))})") from e


def make_output_dir(path: str | None, flag: str = "--out") -> None:
    """Create the output directory ``path`` (and its parents) before any work,
    or raise OSError naming it: it is a file, sits under a file, or cannot be
    written (read-only file system, no permission). ValueError if ``path`` is
    empty. A URL (``gs://...``) is left to the storage layer, once its client
    library (gcsfs) is known to be installed.
    """
    if not path:
        raise ValueError(f"{flag} is required")
    if paths.is_remote(path):
        if path.startswith("gs://"):
            try:
                import gcsfs  # noqa: F401  (epath and orbax need it for gs://)
            except ImportError:
                raise ValueError(f"{flag}={path}: gs:// paths need gcsfs "
                                 "(pip install -e '.[gcs]')") from None
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory", path)
    os.makedirs(path, exist_ok=True)  # raises ENOTDIR, EACCES, EROFS, ... naming path
    # access() reports EROFS and missing permissions; root passes the latter.
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "directory is not writable", path)


# ml_collections wraps a config file's own OSError in a paragraph of text.
_WRAPPED_OS_ERROR = re.compile(r"\[Errno \d+\] ([^:\n]+): '([^'\n]*)'")


def flags_parser(*config_flags: Any) -> Callable[[Sequence[str]], list[str]]:
    """An absl ``flags_parser`` that turns every flag error into one line.

    absl prints a flag error over two lines (and ``app.UsageError`` as the
    whole usage text); a config file that fails to load or an override of a
    field that does not exist raises from inside ml_collections. Here each is
    ``error: <flag>: <why>`` and exit status 2. ``config_flags`` are the
    ``DEFINE_config_file`` holders: their value is read once so that a bad
    file or override surfaces now, not mid-run.
    """
    def parse(argv: Sequence[str]) -> list[str]:
        from absl import flags
        try:
            rest = flags.FLAGS(argv)
            for holder in config_flags:
                # A config that failed to load is a placeholder that raises on
                # first use: use it now, not mid-run.
                getattr(holder.value, "get", None)
            return rest
        except flags.Error as e:
            m = _WRAPPED_OS_ERROR.search(str(e))
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            last = re.sub(r"^\w+Error: ", "", lines[-1]) if lines else type(e).__name__
            if "Unknown command line flag 'config." in last:  # overrides with no --config
                last += ("; --config.* overrides need a --config (a workdir's saved config: "
                         "--config=configs/workdir.py:W)")
            print(f"error: --config: {m[2]}: {m[1]}" if m else f"error: {last}", file=sys.stderr)
        except OSError as e:
            m = _WRAPPED_OS_ERROR.search(str(e))
            line = f"error: {m[2]}: {m[1]}" if m else error_line(e)
            print(line.replace("error: ", "error: --config: ", 1), file=sys.stderr)
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            field = next((a.split("=")[0] for a in argv if a.startswith("--config.")
                          and a.split("=")[0].rsplit(".", 1)[-1] in str(e)), "--config")
            msg = _unquote(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))
            print(f"error: {field}: no such config field or unusable value ({msg})",
                  file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - a config file is user code: any error is bad input
            print(f"error: --config: cannot load the config file ({type(e).__name__}: "
                  f"{_squeeze(str(e))})", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    return parse
