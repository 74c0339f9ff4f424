r"""Meta-trains a cold-start recommender from a config.

  python -m experiments.meta_train --config=experiments/configs/maml_ml100k.py \
      --workdir=workdirs/maml_ml100k [--config.meta.num_steps=5 ...] [--evaluate]

Re-running the same command resumes from the latest checkpoint in ``--workdir``.
With ``--evaluate`` the run is then evaluated as ``experiments.evaluate`` does.

Bad input (a missing file, an unknown flag or config field, a bad value) exits with
status 2 and one ``error: ...`` line on stderr; ``--traceback`` (or
``JAXREC_TRACEBACK=1``) shows the full traceback instead.
"""

import json

from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import _cli
from jaxrec import evaluate
from jaxrec import report
from jaxrec import train

_CONFIG = _cli.define(config_flags.DEFINE_config_file, "config", None, "Training configuration.",
                      lock_config=True)
_WORKDIR = _cli.define(flags.DEFINE_string, "workdir", None, "Run directory (checkpoints, logs).")
_EVALUATE = _cli.define(flags.DEFINE_bool, "evaluate", False, "Evaluate the best checkpoint after "
                        "training and print the results table.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)  # Orbax logs every save and read-only open
  summary = train.train(_CONFIG.value, _WORKDIR.value)
  print(json.dumps(summary))
  if _EVALUATE.value:
    output = evaluate.evaluate_run(_WORKDIR.value)
    print(report.results_markdown(output))


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
