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

from absl import logging

from experiments import _cli
from experiments import _study
from jaxrec import profile_curves
from jaxrec import zero_ratings
from jaxrec.baselines import profile as profile_lib

_CONFIG, _SEEDS, _OUT = _study.define_flags("experiments/configs/foldin_ml100k.py")


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  config = _CONFIG.value

  def evaluate(seed):
    prepared = _study.prepared(config, seed)
    return profile_curves.evaluate_seed(prepared.interactions, prepared.split, seed=seed)
  runs, minutes = _study.run_seeds(map(int, _SEEDS.value), evaluate)
  _study.write(_OUT.value, "profile_curves",
               {"dataset": config.data.dataset, "ks": list(profile_curves.K_SHOTS),
                "metrics": list(profile_curves.METRICS),
                "like_threshold": profile_curves.LIKE_THRESHOLD,
                "backoff_fields": list(profile_lib.BACKOFF_FIELDS),
                "grid": profile_curves.GRID},
               minutes, zero_ratings.pool_seeds(runs, profile_curves.METHODS,
                                                profile_curves.K_SHOTS,
                                                profile_curves.COMPARISONS), runs)


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
