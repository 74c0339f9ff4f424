"""Trained ML-100K runs on the liked k-shot pools of :mod:`jaxrec.profile_curves`.

``experiments.profile_curves --runs=... --profile_runs=...`` scores with these the
meta-learned fold-in trained for users with 0-3 ratings
(``experiments/configs/foldin_kshot_ml100k.py``, method ``run``) and the same model
with the profile in its prior (``foldin_profile_ml100k.py``, ``profile prior``) on
the baselines' users, pools and liked queries: at ``k`` the support is the first
``k`` pool items with their ratings, scored by the run's adapter over every
training item but the pool, each user from their own user-table row.
"""

import pathlib
from collections.abc import Collection
from typing import Any

import numpy as np

from experiments import _study
from jaxrec import profile_curves
from jaxrec import zero_ratings
from jaxrec.data import kshot

RUN_METHODS = ("run", "profile prior")
RUN_COMPARISONS = (("profile prior", "run", profile_curves.K_SHOTS),
                   ("profile prior", "popularity", (0,)),
                   ("profile prior", "profile", (0,)),
                   ("profile prior", "mf_foldin+profile", profile_curves.K_SHOTS),
                   ("run", "mf_foldin+mean", profile_curves.K_SHOTS))


def run_curves(run: _study.Run, group: profile_curves.LikedPools,
               candidates: np.ndarray) -> dict[int, dict[str, np.ndarray]]:
  """``{k: {metric: float64[B]}}``: the run's fold-in of the first ``k`` pool
  ratings of each of ``group``'s users, over ``candidates`` minus the pool."""
  pools, out = group.pools, {}
  for k in profile_curves.K_SHOTS:
    rows = [(pools.pool[b, :k].astype(np.int32), group.support_y[b, :k].astype(np.float32),
             np.ones(k, np.float32)) for b in range(len(pools.users))]
    out[k] = zero_ratings.per_user(_study.score_supports(run, pools.users, rows), pools,
                                   candidates)
  return out


def run_comparisons(given: Collection[str]) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
  """The ``RUN_COMPARISONS`` whose run methods (of ``RUN_METHODS``) are all in ``given``."""
  return tuple(c for c in RUN_COMPARISONS if {c[0], c[1]} & set(RUN_METHODS) <= set(given))


def evaluate_runs(workdirs: dict[str, pathlib.Path], seed: int, group: str = "test",
                  pools: kshot.Pools | None = None) -> dict[str, Any]:
  """``{"per_user": {method: {k: {metric: list}}}, "runs": {method: about}}`` of
  the runs in ``workdirs`` (method -> run directory), on ``group``'s liked pools.

  Raises:
    ValueError: a run's split seed is not ``seed``, or its pools are not ``pools``
      (the baselines' users, pools and liked queries, when given).
  """
  out: dict[str, Any] = {"per_user": {}, "runs": {}}
  for method, workdir in workdirs.items():
    run = _study.load_run(workdir, seed)
    split = run.prepared.split
    liked = profile_curves.liked_pools(run.prepared.interactions, split, group,
                                       pool_size=profile_curves.K_SHOTS[-1], seed=seed)
    if pools is not None and not all(
        np.array_equal(getattr(liked.pools, name), getattr(pools, name))
        for name in ("users", "pool", "query", "query_mask")):
      raise ValueError(f"{workdir}: its {group} pools are not those of --config's split")
    out["per_user"][method] = {
        k: {m: v.tolist() for m, v in by_metric.items()}
        for k, by_metric in run_curves(run, liked, split.train_items).items()}
    out["runs"][method] = run.about()
  return out
