r"""A trained run's k-shot curves with and without friends (HetRec Last.fm).

  python -m experiments.zero_ratings_run --runs=runs/lastfm_final/foldin_lastfm \
      --friends_runs=runs/lastfm_final/foldin_friends_lastfm \
      --baselines=experiments/results/zero_ratings/lastfm.json \
      --out=experiments/results/zero_ratings/lastfm_run.json

``--runs`` holds one run directory per seed (``seed_<seed>``, as
``experiments.run_all`` lays them out; e.g. the final Last.fm runs of
``run_all --configs=experiments/configs/foldin_lastfm.py``). Each seed's run serves
the fixed pools and queries of :mod:`jaxrec.zero_ratings` (the run's split, the
same pool seed, so the same test users as ``--baselines``, the zero-ratings JSON
of the same seeds): at ``k`` the support is the first ``k`` pool artists (weight
1), scored by the run's adapter over every training artist but the pool.
``run+friends`` adds the training friends' artists as weighted support rows, the
rows ``jaxrec.recommend.recommend(friends=...)`` adds
(:func:`jaxrec.serving.signals.signals`), with the friends' weight ``γ_k`` chosen
per ``k`` on the validation users from ``jaxrec.zero_ratings.GRID``; ``run+friends
(serving)`` uses serving's fixed weight
(:data:`jaxrec.serving.signals.FRIENDS_WEIGHT`). With ``--friends_runs`` (the
runs of ``experiments/configs/foldin_friends_lastfm.py`` on the same seeds, whose
prior reads the training friends), ``friends prior`` is that model from its own
prior (no friends' rows), against the run without friends (``run``: the same
model retrained without the friends input) and the baselines. Each user is
scored from their own user-table row, so a model's user fields enter. Test users
are scored once.
Writes the per-user figures, the choices and the paired differences (seed-level
95% CIs) against the baselines' figures for the same users
(:func:`jaxrec.zero_ratings.pool_seeds`).
"""

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import flags
from absl import logging

from experiments import _cli
from experiments import _study
from jaxrec import zero_ratings
from jaxrec.data import graph
from jaxrec.data import kshot
from jaxrec.serving import signals as signals_lib

_RUNS = _cli.define(flags.DEFINE_string, "runs", None, "Folder of seed_<seed> run directories.")
_FRIENDS_RUNS = _cli.define(
    flags.DEFINE_string, "friends_runs", None,
    "Folder of seed_<seed> runs of the model with friends input.")
_BASELINES = _cli.define(flags.DEFINE_string, "baselines", None,
                         "The zero-ratings JSON of the same seeds.")
_SEEDS, _OUT = _study.define_output_flags()
flags.mark_flags_as_required(["runs", "baselines"])

METHODS = ("run", "run+friends", "run+friends (serving)")
PRIOR_METHODS = ("friends prior",)
# (method, reference, the ks), the references being zero_ratings' methods or ours
PRIOR_COMPARISONS = (("friends prior", "friends+popularity", (0,)),
                     ("friends prior", "friends", (0,)),
                     ("friends prior", "run", zero_ratings.K_SHOTS),
                     ("friends prior", "run+friends", zero_ratings.K_SHOTS),
                     ("friends prior", "ials+friends", zero_ratings.K_SHOTS))
COMPARISONS = (("run+friends", "friends+popularity", (0,)),
               ("run+friends", "friends", (0,)),
               ("run+friends", "run", zero_ratings.K_SHOTS),
               ("run+friends", "ials+friends", zero_ratings.K_SHOTS),
               ("run", "ials", zero_ratings.K_SHOTS[1:]))


def _curve(run: _study.Run, pools: kshot.Pools, friends: Sequence[np.ndarray], k: int,
           weight: float, candidates: np.ndarray) -> dict[str, np.ndarray]:
  """Per-user metrics at ``k`` with the friends' rows of weight ``weight`` (0: none)."""
  rows = []
  for b in range(len(pools.users)):
    own = pools.pool[b, :k].astype(np.int32)
    extra = signals_lib.signals(run.recommender, own, friends[b] if weight else
                                np.zeros(0, np.int64), None, friends_weight=weight)
    weights = np.concatenate([np.ones(k, np.float32), extra.weights])
    rows.append((np.concatenate([own, extra.items]), (weights > 0).astype(np.float32),
                 weights))
  return zero_ratings.per_user(_study.score_supports(run, pools.users, rows), pools,
                               candidates)


def evaluate_seed(workdir: pathlib.Path, seed: int,
                  friends_workdir: pathlib.Path | None = None) -> dict[str, Any]:
  """One seed's test curves of the run in ``workdir``, ``γ_k`` tuned on validation,
  and with ``friends_workdir`` those of the friends-prior run (no rows added).

  Raises:
    ValueError: a run's split seed is not ``seed``, or the two runs' test pools
      differ.
  """
  run = _study.load_run(workdir, seed)
  inter, split = run.prepared.interactions, run.prepared.split
  groups = {}
  for group in ("val", "test"):
    pools = kshot.kshot_pools(inter, split, group, seed=seed)
    groups[group] = (pools, [graph.friends_of(inter, int(u), among=split.train_users)
                             for u in pools.users])

  def curve(group, k, weight, run=run):
    pools, friends = groups[group]
    return _curve(run, pools, friends, k, weight, split.train_items)
  chosen, validation = {}, {}
  for k in zero_ratings.K_SHOTS:
    chosen[k], validation[k] = zero_ratings.choose(
        zero_ratings.GRID["friends_weight"],
        lambda w, k=k: float(np.nanmean(curve("val", k, w)[zero_ratings.METRICS[0]])))
  weights = {"run": lambda k: 0.0, "run+friends": chosen.get,
             "run+friends (serving)": lambda k: signals_lib.FRIENDS_WEIGHT}
  per_user = {method: {k: {m: v.tolist() for m, v in curve("test", k, weight(k)).items()}
                       for k in zero_ratings.K_SHOTS} for method, weight in weights.items()}
  out = {"chosen": {"friends_weight": chosen}, "validation": {"friends_weight": validation},
         "users": {"test": len(groups["test"][0].users)},
         "test_users": groups["test"][0].users.tolist(),
         "run": run.about(), "per_user": per_user}
  if friends_workdir is not None:
    theirs = _study.load_run(friends_workdir, seed)
    pools = kshot.kshot_pools(theirs.prepared.interactions, theirs.prepared.split, "test",
                              seed=seed)
    if not np.array_equal(pools.pool, groups["test"][0].pool):
      raise ValueError(f"{friends_workdir}: its test pools are not those of {workdir}")
    per_user["friends prior"] = {
        k: {m: v.tolist() for m, v in curve("test", k, 0.0, theirs).items()}
        for k in zero_ratings.K_SHOTS}
    out["friends_run"] = theirs.about()
  return out


def with_baselines(runs: Mapping[int, Mapping[str, Any]], baselines: Mapping[str, Any]
                   ) -> dict[int, dict[str, Any]]:
  """Each seed's per-user figures, ours and the baselines' (same test users), in
  one ``{"per_user": {method: {k: ...}}}`` for :func:`jaxrec.zero_ratings.pool_seeds`.

  Raises:
    ValueError: ``baselines`` has no such seed, or other test users (ids or order).
  """
  merged = {}
  for seed, run in runs.items():
    if str(seed) not in baselines["seeds"]:
      raise ValueError(f"{_BASELINES.value}: no seed {seed}")
    if baselines["seeds"][str(seed)]["test_users"] != run["test_users"]:
      raise ValueError(f"seed {seed}: the run's test users are not the baselines' (ids "
                       "or order): not the same split or pools")
    theirs = baselines["seeds"][str(seed)]["per_user"]
    merged[seed] = {"per_user": {
        **{method: {int(k): v for k, v in by_k.items()} for method, by_k in theirs.items()},
        **run["per_user"]}}
  return merged


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  baselines = json.loads(pathlib.Path(_BASELINES.value).read_text())
  friends = _FRIENDS_RUNS.value
  runs, minutes = _study.run_seeds(
      map(int, _SEEDS.value),
      lambda seed: evaluate_seed(pathlib.Path(_RUNS.value) / f"seed_{seed}", seed,
                                 friends and pathlib.Path(friends) / f"seed_{seed}"))
  summary = zero_ratings.pool_seeds(
      with_baselines(runs, baselines), METHODS + (PRIOR_METHODS if friends else ()),
      zero_ratings.K_SHOTS, COMPARISONS + (PRIOR_COMPARISONS if friends else ()))
  _study.write(_OUT.value, "zero_ratings_run",
               {"baselines": _BASELINES.value, "friends_runs": friends,
                "ks": list(zero_ratings.K_SHOTS),
                "metrics": list(zero_ratings.METRICS),
                "grid": {"friends_weight": zero_ratings.GRID["friends_weight"]},
                "serving_friends_weight": signals_lib.FRIENDS_WEIGHT},
               minutes, summary, runs)


if __name__ == "__main__":
  _cli.run(main)
