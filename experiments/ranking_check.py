r"""The final ML-100K runs' catalogue ranking against the ranking-only baselines.

  JAXREC_DATA_DIR=/path/to/data python -m experiments.ranking_check \
      --final_runs=workdirs/ml100k_final/foldin_ml100k \
      --out=experiments/results/ml100k_foldin/ranking_check.json

The explicit results tables hold rating predictors only. A new user's
recommendations are a ranking of the whole catalogue, judged here as evaluation
judges it: the full-catalogue nDCG@10 and recall@10 of the user's liked query
movies (rating >= 4) among every training movie but the support. Methods that
model which movies a user rates at all also rank: popularity and the implicit
baselines of the implicit tables (item-kNN, EASE, the implicit-ALS fold-in; their
grids are :data:`GRIDS`), fit on the training users' rated movies (every
rating a positive, its value unused). For each seed each is tuned on that seed's
validation users by the full-catalogue nDCG@10 of liked movies, then scored once
on the test users' ``new_users`` episodes, the same users, supports and queries
as the run's own evaluation (checked against the run's ``per_user.npz``, which
gives the run's figures).

Does the run's predicted rating add to the best ranker? The blend
(:data:`BLEND`) ranks by

  ``s(i) = z(a(i)) + β z(r̂(i))``

with ``a`` the tuned iALS fold-in's score, ``r̂`` the run's predicted rating and
``z`` the standardisation over the user's candidates (mean 0, variance 1);
``β`` (grid :data:`BETAS`, 0 is the iALS fold-in itself) is chosen on the same
validation users. Writes one JSON object: the command, the code identity,
each seed's choices, users and per-user figures, and the summary (means over
seeds with seed-level 95% CIs; paired differences run - baseline, and
blend - iALS fold-in).
``python -m experiments.tables`` turns it into the README's table.
"""

import pathlib

import numpy as np
from absl import flags
from absl import logging

from experiments import _cli
from experiments import _study
from experiments import results_tables
from jaxrec import baselines
from jaxrec import scoring
from jaxrec import zero_ratings
from jaxrec.data import episodes as episodes_lib
from jaxrec.data import splits

_CONFIG, _SEEDS, _OUT = _study.define_flags("experiments/configs/foldin_ml100k.py")
_RUNS = _cli.define(flags.DEFINE_string, "final_runs", None,
                    "Folder of seed_<seed> runs of --config.")
flags.mark_flags_as_required(["final_runs"])

STATE = "new_users"
SELECT = "full_ndcg@10"
KS = ("all",)  # the whole support: one column in the k-shot table format


# The ranking baselines and their grids: those of the implicit tables
# (``tuned_baselines.BASELINE_GRIDS["implicit"]``) widened where ML-100K chose a
# grid edge there (EASE's L2 at 1e3; the iALS fold-in at 8 factors, reg 10,
# alpha 10): ML-100K has a tenth of Last.fm's items.
GRIDS = {"popularity": (baselines.Popularity, {}),
         "item_knn": (baselines.ItemKNN, {"neighbours": (50, 200, 0)}),
         "ease": (baselines.EASE, {"l2": (30.0, 100.0, 300.0, 1e3, 3e3)}),
         "ials_foldin": (baselines.ImplicitALS, {"factors": (4, 8, 16, 32, 64),
                                                 "reg": (3.0, 10.0, 30.0, 100.0),
                                                 "alpha": (1.0, 3.0, 10.0, 30.0)})}
BLEND = results_tables.BLEND
BETAS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 2.0)


def _standardised(scores) -> np.ndarray:
  """Each row of ``float[B, C]`` scores less its mean, over its standard deviation
  (a row of equal scores becomes 0)."""
  scores = np.asarray(scores, np.float64)
  spread = scores.std(axis=1, keepdims=True)
  return (scores - scores.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)


def blend(ranker, rating, beta: float):
  """The score-all function ``z(ranker) + beta z(rating)`` of the module docstring
  (both ``(batch, candidates) -> float[B, C]``)."""
  return lambda batch, cand: (_standardised(ranker(batch, cand))
                              + beta * _standardised(rating(batch, cand)))


def _figures(score_all, batches, prepared) -> dict:
  """``{"all": {metric: [per-user value]}}`` of a score-all function's ranking of
  the training items (:func:`jaxrec.scoring.catalogue_metrics`)."""
  _, full = scoring.catalogue_metrics(score_all, batches, prepared.split.train_items,
                                      prepared)
  return {KS[0]: {m: full[f"full_{m}"].tolist() for m in zero_ratings.METRICS}}


def test_episodes(config, prepared, seed: int) -> episodes_lib.Episodes:
  """The ``new_users`` test episodes of the seed's split, as the run's evaluation
  built them."""
  return episodes_lib.make_episodes(prepared.interactions, prepared.split, STATE,
                                    group="test", query_size=config.data.query_size,
                                    negatives=config.data.negatives, seed=seed)


def served_rating(run: _study.Run):
  """The run's predicted ratings as ``(batch, candidates) -> float[B, C]``, after
  its adaptation to each support as ``jaxrec.recommend`` serves it."""
  def rating(batch, candidates):
    s = batch["support"]
    return np.asarray(run.score(batch["query"]["user"], s["item"], s["y"],
                                s["mask"]))[:, candidates]
  return rating


def evaluate_seed(config, seed: int, run_dir: pathlib.Path) -> dict:
  """The run's and every ranking baseline's per-user test figures of one seed.

  Raises:
    ValueError: the run's test users are not this split's ``new_users`` users.
  """
  prepared = _study.prepared(config, seed)
  inter, split = prepared.interactions, prepared.split
  fit_args = splits.training_rows(inter, split)
  val = scoring.validation_batches(config, prepared)
  episodes = test_episodes(config, prepared, seed)
  test = scoring.padded_batches(episodes, scoring.batch_shape(config))
  saved = np.load(run_dir / "per_user.npz")
  if not np.array_equal(saved[f"{STATE}|user"], np.sort(episodes.user)):
    raise ValueError(f"{run_dir}: its {STATE} test users are not those of seed {seed}'s "
                     "split: not the run of this config and seed")
  loaded = _study.load_run(run_dir, seed)
  run = loaded.about()
  method = run["config"]
  rating = served_rating(loaded)
  per_user = {method: {KS[0]: {m: saved[f"{method}|{STATE}|full_{m}"].tolist()
                               for m in zero_ratings.METRICS}}}
  chosen, rankers = {}, {}
  for name, (cls, grid) in GRIDS.items():
    found = baselines.grid_search(cls, grid, fit_args, val, SELECT,
                                  candidates=split.train_items)
    rankers[name] = scoring.baseline_scorers(found.best_baseline)[1]
    per_user[name] = _figures(rankers[name], test, prepared)
    chosen[name] = found.best_params
  ials = rankers["ials_foldin"]
  beta = max(BETAS, key=lambda b: scoring.catalogue_metrics(
      blend(ials, rating, b), val, split.train_items, prepared)[0][SELECT])
  per_user[BLEND] = _figures(blend(ials, rating, beta), test, prepared)
  chosen[BLEND] = {"beta": beta}
  liked = ~np.isnan(per_user[method][KS[0]][zero_ratings.METRICS[0]])
  return {"chosen": chosen, "users": {"test": len(episodes), "liked_test": int(liked.sum())},
          "runs": {method: run}, "per_user": per_user}


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  config, folder = _CONFIG.value, pathlib.Path(_RUNS.value)
  runs, minutes = _study.run_seeds(
      map(int, _SEEDS.value), lambda seed: evaluate_seed(config, seed,
                                                          folder / f"seed_{seed}"))
  methods = [config.name, *GRIDS, BLEND]
  comparisons = [*((config.name, name, KS) for name in methods[1:]),
                 (BLEND, "ials_foldin", KS)]
  _study.write(_OUT.value, "ranking_check",
               {"dataset": config.data.dataset, "state": STATE, "ks": list(KS),
                "metrics": list(zero_ratings.METRICS), "select": SELECT,
                "grids": {**{name: grid for name, (_, grid) in GRIDS.items()},
                          BLEND: {"beta": BETAS}},
                "final_runs": _RUNS.value},
               minutes, zero_ratings.pool_seeds(runs, methods, KS, comparisons), runs)


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
