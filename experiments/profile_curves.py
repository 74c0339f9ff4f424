r"""New MovieLens users from zero ratings up, with and without their profile (k = 0-3).

  JAXREC_DATA_DIR=/path/to/data python -m experiments.profile_curves --seeds=0,1,2,3,4 \
      --out=experiments/results/zero_ratings/ml100k_profiles.json

For each seed, the models' cold-start split of ``--config`` (default: the
ML-100K fold-in config) gives the validation and test users; the methods of
:mod:`jaxrec.profile_curves` (popularity, the profile back-off means, the MF
fold-in from a zero, a mean or a profile prior) are tuned on the validation
users and scored once on the test users. Writes one JSON object: the command,
the code identity (:func:`jaxrec.provenance.code_identity`), the grid, each
seed's choices, user counts and per-user figures, and the summary (means over
seeds with seed-level 95% CIs, and the paired differences). ``python -m
experiments.tables`` turns it into the README's table.
"""

import json
import pathlib
import sys
import time

from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import _cli
from jaxrec import prepare
from jaxrec import profile_curves
from jaxrec import provenance
from jaxrec._io import atomic_write
from jaxrec.baselines import profile as profile_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/foldin_ml100k.py", "The config whose data and split to use.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Split seeds.")
_OUT = flags.DEFINE_string("out", None, "Where to write the JSON.")
flags.mark_flags_as_required(["out"])


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  config = _CONFIG.value
  runs, started = {}, time.process_time()
  for seed in map(int, _SEEDS.value):
    config.seed = seed
    prepared = prepare.prepare(config)
    runs[seed] = profile_curves.evaluate_seed(prepared.interactions, prepared.split, seed=seed)
    print(f"seed {seed}: chosen {runs[seed]['chosen']}, users {runs[seed]['users']}",
          flush=True)
  output = {"command": "python -m experiments.profile_curves " + " ".join(sys.argv[1:]),
            "dataset": config.data.dataset, "ks": list(profile_curves.K_SHOTS),
            "metrics": list(profile_curves.METRICS),
            "like_threshold": profile_curves.LIKE_THRESHOLD,
            "backoff_fields": list(profile_lib.BACKOFF_FIELDS), "grid": profile_curves.GRID,
            "cpu_minutes": round((time.process_time() - started) / 60, 1),
            "code": provenance.code_identity(),
            "summary": profile_curves.pool_seeds(runs), "seeds": runs}
  out = pathlib.Path(_OUT.value)
  out.parent.mkdir(parents=True, exist_ok=True)
  text = json.dumps(output, indent=1).encode()
  atomic_write(out, lambda f: f.write(text))
  print(json.dumps(output["summary"]["paired"], indent=1))


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
