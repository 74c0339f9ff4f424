r"""Bad-input handling shared by the ``experiments`` command-line entry points.

A bad input (:data:`BAD_INPUT`: a ``ValueError``, ``FileNotFoundError`` or absl /
ml_collections flag error) prints one line ``error: <message>`` on stderr and exits
with status :data:`USAGE_ERROR` (2), without a traceback. ``--traceback`` on the
command line, or ``JAXREC_TRACEBACK=1`` in the environment, lets the exception
propagate with its full traceback instead. Any other exception (a bug) always
shows its traceback.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from absl import app
from absl import flags

USAGE_ERROR = 2
TRACEBACK_ENV = "JAXREC_TRACEBACK"
TRACEBACK_HELP = (f"show the full traceback of a bad-input error (or set {TRACEBACK_ENV}=1) "
                  "instead of the one-line 'error: ...' message")
BAD_INPUT = (ValueError, FileNotFoundError, flags.Error)

flags.DEFINE_bool("traceback", False, TRACEBACK_HELP)
# Flags defined through define() below belong to the entry point that calls it
# (its --help lists them), not to this module.
flags.disclaim_key_flags()

_DEFINERS: dict[str, Callable[..., flags.FlagHolder]] = {}


def define(definer: Callable[..., flags.FlagHolder], name: str, *args: Any,
           **kwargs: Any) -> flags.FlagHolder:
  """``definer(name, *args, **kwargs)``, or a holder of the flag ``name`` when an
  entry point imported earlier in this process defined it already.

  ``definer`` is an absl ``flags.DEFINE_*`` or ml_collections'
  ``config_flags.DEFINE_config_file``. Each entry point defines the flags it reads
  when imported, and absl refuses a second definition of a name, so a process that
  imports several entry points (the tests, a notebook) shares one flag per name,
  with the first definition's default and help (and every importer's
  ``mark_flags_as_required``). ``python -m experiments.<X>`` imports no other
  entry point: there every flag is X's own.

  Raises:
    ValueError: ``name`` was defined before with another ``definer`` (another type).
  """
  if name not in flags.FLAGS:
    _DEFINERS[name] = definer
    return definer(name, *args, **kwargs)
  if _DEFINERS.get(name) is not definer:
    raise ValueError(f"flag --{name} is defined twice with different types")
  flag = flags.FLAGS[name]
  return flags.FlagHolder(flags.FLAGS, flag, ensure_non_none_value=flag.default is not None)


def wants_traceback(argv: Sequence[str]) -> bool:
  """Whether ``argv`` holds ``--traceback`` (or ``--traceback=true``/``=1``) or the
  environment sets ``JAXREC_TRACEBACK`` to anything but ``""``/``"0"``.

  Reads the raw arguments, so it also answers when flag parsing itself failed.
  """
  if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
    return True
  return any(arg.lower() in ("--traceback", "--traceback=true", "--traceback=1")
             for arg in argv)


def one_line(error: BaseException) -> str:
  """``error``'s message on one line: a traceback quoted inside it (ml_collections
  quotes one for a failing ``get_config``) is cut down to its last line, other line
  breaks become ``"; "`` (``" "`` after a colon); an empty message gives the
  exception's type name."""
  message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
  lines = [line.strip() for line in str(message).splitlines() if line.strip()]
  if "Traceback (most recent call last):" in lines:
    cut = lines.index("Traceback (most recent call last):")
    lines = lines[:cut] + lines[-1:]
  text = ""
  for line in lines:
    text += (" " if text.endswith(":") else "; ") + line if text else line
  return text or type(error).__name__


@contextlib.contextmanager
def exit_on_bad_input(argv: Sequence[str]) -> Iterator[None]:
  """Context in which a :data:`BAD_INPUT` exception prints ``error: <message>`` (one
  line, :func:`one_line`) on stderr and raises ``SystemExit(USAGE_ERROR)``, unless
  :func:`wants_traceback` ``(argv)``: then the exception propagates unchanged.
  """
  try:
    yield
  except BAD_INPUT as e:
    if wants_traceback(argv):
      raise
    print(f"error: {one_line(e)}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR) from None


def check_config_files(argv: Sequence[str], names: Sequence[str]) -> None:
  """Checks the file of each ml_collections config-file flag of ``names`` given in
  ``argv`` (``--name=PATH[:ARGS]`` or ``--name PATH[:ARGS]``).

  ml_collections defers a missing config file to the first read of the config
  (an ``OSError`` deep inside the run, or during parsing when ``--name.field``
  overrides follow), so the entry points check it before parsing.

  Raises:
    FileNotFoundError: naming the flag and the path that is not a file.
  """
  for i, arg in enumerate(argv):
    for name in names:
      if arg.startswith(f"--{name}="):
        value = arg.split("=", 1)[1]
      elif arg == f"--{name}" and i + 1 < len(argv):
        value = argv[i + 1]
      else:
        continue
      path = value.split(":", 1)[0]
      if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"--{name}: config file {path} not found")


def parse_flags(argv: Sequence[str], config_files: Sequence[str] = ()) -> list[str]:
  """absl flag parser for :func:`app.run` that checks the config-file flags named
  ``config_files`` first (:func:`check_config_files`) and reports a config override naming no field
  (``--config.nope=1``, an ``AttributeError``/``KeyError`` inside ml_collections)
  as a ``ValueError``; returns the arguments left after parsing.

  Raises:
    FileNotFoundError, ValueError, absl.flags.Error: for bad flags (turned into
      one-line errors by :func:`exit_on_bad_input` in :func:`run`).
  """
  check_config_files(argv, config_files)
  try:
    return flags.FLAGS(list(argv))
  except (AttributeError, KeyError) as e:
    cause = e.args[0] if e.args and isinstance(e.args[0], KeyError) else e
    raise ValueError(f"unknown config field in a --<config>.<field> override: "
                     f"{one_line(cause)}") from e


def run(main: Callable[[list[str]], Any],
        config_files: Sequence[flags.FlagHolder] = ()) -> NoReturn:
  """``absl.app.run(main)`` whose flag parsing (:func:`parse_flags`, checking the
  files of the ``config_files`` flags, e.g. ``DEFINE_config_file``'s holder) and
  ``main`` report bad input as one line (:func:`exit_on_bad_input` over
  ``sys.argv``); exits with ``main``'s return value, or :data:`USAGE_ERROR`."""
  argv = list(sys.argv)
  names = [holder.name for holder in config_files]

  def parse(args: list[str]) -> list[str]:
    with exit_on_bad_input(argv):
      return parse_flags(args, names)

  def guarded_main(args: list[str]) -> Any:
    with exit_on_bad_input(argv):
      return main(args)

  app.run(guarded_main, flags_parser=parse)
