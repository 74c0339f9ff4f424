r"""Evaluates a meta-training run from its checkpoint, in a fresh process.

  python -m experiments.evaluate --workdir=workdirs/maml_ml100k

Reads only ``<workdir>/config.json`` and the best checkpoint (any device count),
writes ``results.json``, ``results.md``, ``per_user.npz`` and the PNG plots into the
workdir, and prints the markdown table.

Bad input (a missing file, an unknown flag or config field, a bad value) exits with
status 2 and one ``error: ...`` line on stderr; ``--traceback`` (or
``JAXREC_TRACEBACK=1``) shows the full traceback instead.
"""

from absl import flags
from absl import logging

from experiments import _cli
from jaxrec import evaluate
from jaxrec import report

_WORKDIR = _cli.define(flags.DEFINE_string, "workdir", None, "Run directory written by meta_train.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)  # Orbax logs every save and read-only open
  print(report.results_markdown(evaluate.evaluate_run(_WORKDIR.value)))


if __name__ == "__main__":
  _cli.run(main)
