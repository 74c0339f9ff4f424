r"""New MovieLens users from zero ratings up, with and without their profile (k = 0-3).

  JAXREC_DATA_DIR=/path/to/data python -m experiments.profile_curves --seeds=0,1,2,3,4 \
      --runs=runs/ml100k_final/foldin_kshot_ml100k \
      --profile_runs=runs/ml100k_final/foldin_profile_ml100k \
      --out=experiments/results/zero_ratings/ml100k_profiles.json

For each seed, the models' cold-start split of ``--config`` (default: the
ML-100K fold-in config) gives the validation and test users; the methods of
:mod:`jaxrec.profile_curves` (popularity, the profile back-off means, the MF
fold-in from a zero, a mean or a profile prior) are tuned on the validation
users and scored once on the test users. With ``--runs`` (one ``seed_<seed>``
run directory per seed, as ``experiments.run_all`` lays them out; the runs of
``experiments/configs/foldin_kshot_ml100k.py``) and ``--profile_runs`` (those of
``experiments/configs/foldin_profile_ml100k.py``, whose prior reads the
profile), the trained models serve the same pools
(:mod:`experiments.profile_runs`): at ``k`` the support is the first ``k`` pool
items with their ratings, scored by the run's adapter over every training item
but the pool, each user from their own user-table row (so the profile enters the
profile run's prior). ``run`` is the model retrained without the profile input,
``profile prior`` the model with it; neither has a choice left to make on
validation users. Writes one JSON object: the command, the code identity
(:func:`jaxrec.provenance.code_identity`), the grid, each seed's choices, user
counts and per-user figures, and the summary (means over seeds with seed-level
95% CIs, and the paired differences). ``python -m experiments.tables`` turns it
into the README's table.
"""

import pathlib

from absl import flags
from absl import logging

from experiments import _cli
from experiments import _study
from experiments import profile_runs
from jaxrec import profile_curves
from jaxrec import zero_ratings
from jaxrec.baselines import profile as profile_lib

_CONFIG, _SEEDS, _OUT = _study.define_flags("experiments/configs/foldin_ml100k.py")
_RUNS = _cli.define(flags.DEFINE_string, "runs", None,
                    "Folder of seed_<seed> runs of the model without profile.")
_PROFILE_RUNS = _cli.define(
    flags.DEFINE_string, "profile_runs", None,
    "Folder of seed_<seed> runs of the model with profile input.")


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  config = _CONFIG.value
  folders = {method: pathlib.Path(folder) for method, folder in
             zip(profile_runs.RUN_METHODS, (_RUNS.value, _PROFILE_RUNS.value)) if folder}

  def evaluate(seed):
    prepared = _study.prepared(config, seed)
    out = profile_curves.evaluate_seed(prepared.interactions, prepared.split, seed=seed)
    if folders:
      test = profile_curves.liked_pools(prepared.interactions, prepared.split, "test",
                                        pool_size=profile_curves.K_SHOTS[-1], seed=seed)
      runs = profile_runs.evaluate_runs(
          {m: f / f"seed_{seed}" for m, f in folders.items()}, seed, pools=test.pools)
      out["per_user"].update(runs["per_user"])
      out["runs"] = runs["runs"]
    return out
  runs, minutes = _study.run_seeds(map(int, _SEEDS.value), evaluate)
  comparisons = profile_curves.COMPARISONS + profile_runs.run_comparisons(folders)
  _study.write(_OUT.value, "profile_curves",
               {"dataset": config.data.dataset, "ks": list(profile_curves.K_SHOTS),
                "metrics": list(profile_curves.METRICS),
                "like_threshold": profile_curves.LIKE_THRESHOLD,
                "backoff_fields": list(profile_lib.BACKOFF_FIELDS),
                "grid": profile_curves.GRID, "runs": _RUNS.value,
                "profile_runs": _PROFILE_RUNS.value},
               minutes, zero_ratings.pool_seeds(runs, profile_curves.METHODS + tuple(folders),
                                                profile_curves.K_SHOTS, comparisons), runs)


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
