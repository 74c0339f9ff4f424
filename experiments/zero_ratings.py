r"""Users with no ratings yet: friends and ratings, k = 0 to 10 (HetRec Last.fm).

  python -m experiments.zero_ratings --seeds=0,1,2,3,4 \
      --out=experiments/results/zero_ratings/lastfm.json

For each seed, the models' cold-start split of ``--config`` (default: the
Last.fm fold-in config) gives the validation and test users; the baselines of
:mod:`jaxrec.zero_ratings` are tuned on the validation users and scored once on
the test users. Writes one JSON object: the command, the code identity
(:func:`jaxrec.provenance.code_identity`), the grid, each seed's choices, user
counts and per-user figures, and the summary (means over seeds
with seed-level 95% CIs, and the paired differences). ``python -m
experiments.tables`` turns it into the README's table.
"""

from absl import logging

from experiments import _cli
from experiments import _study
from jaxrec import zero_ratings

_CONFIG, _SEEDS, _OUT = _study.define_flags("experiments/configs/foldin_lastfm.py")


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  config = _CONFIG.value

  def evaluate(seed):
    prepared = _study.prepared(config, seed)
    return zero_ratings.evaluate_seed(prepared.interactions, prepared.split, seed=seed)
  runs, minutes = _study.run_seeds(map(int, _SEEDS.value), evaluate)
  _study.write(_OUT.value, "zero_ratings",
               {"dataset": config.data.dataset, "ks": list(zero_ratings.K_SHOTS),
                "metrics": list(zero_ratings.METRICS), "grid": zero_ratings.GRID},
               minutes, zero_ratings.pool_seeds(runs), runs)


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
