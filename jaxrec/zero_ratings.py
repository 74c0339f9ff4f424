"""k-shot curves from zero ratings up, with and without friends (Last.fm).

For one seed's split, the validation and test users get fixed pools and queries
(:func:`jaxrec.data.kshot.kshot_pools`); at each ``k`` of ``K_SHOTS`` every method
ranks the training items minus the user's pool, and full-catalogue nDCG@10 and
recall@10 of the query items are recorded per user. The methods
(:mod:`jaxrec.baselines.friends`):

* ``popularity``: ``p(i)``;
* ``friends``: ``f_u(i)``, the training friends' listening (ties, e.g. every
  item for a user without training friends, are ranked in expectation over
  random orders by the tie-aware metrics);
* ``friends+popularity``: ``(1 - β) f_u(i) + β p(i)``;
* ``ials``: the implicit-ALS fold-in of the ``k`` support positives (``k >= 1``);
* ``ials+friends``: the same fold-in with the friends' items as extra positives
  of weight ``γ_k f_u(i)``.

The implicit-ALS setting (mean over ``k >= 1`` of ``ials``), ``β`` (at ``k = 0``)
and ``γ_k`` (at each ``k``: the friends' weight may shrink as the user's own
ratings grow) are chosen in that order on the validation users of the seed, from
``GRID``; the test users are scored once with the choice.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec import baselines
from jaxrec import metrics
from jaxrec import tuned_baselines
from jaxrec.baselines import friends as friends_lib
from jaxrec.data import kshot
from jaxrec.data import splits
from jaxrec.data.interactions import Interactions
from jaxrec.results import CATALOGUE_K
from jaxrec.results import mean_ci95

K_SHOTS = (0, 1, 3, 5, 10)
METHODS = ("popularity", "friends", "friends+popularity", "ials", "ials+friends")
METRICS = (f"ndcg@{CATALOGUE_K}", f"recall@{CATALOGUE_K}")
GRID = {"blend": (1e-5, 1e-4, 1e-3, 0.01, 0.03, 0.1, 0.3),
        "friends_weight": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
        # the implicit-ALS grid of the models' tables (jaxrec.tuned_baselines)
        "ials": tuned_baselines.BASELINE_GRIDS["implicit"]["ials_foldin"][1]}
_CHUNK = 32  # users per weighted fold-in (bounds the [users, items, factors] design)
_USES_K = ("ials", "ials+friends")  # the methods that read the k support ratings


def _scores(method: str, k: int, pools: kshot.Pools, listening: np.ndarray,
            popularity: np.ndarray, als: baselines.ImplicitALS,
            params: Mapping[str, Any]) -> np.ndarray | None:
  """``float64[B, I]`` scores of every item, or None where ``method`` has no
  score at ``k`` (``ials`` without ratings). ``params``: ``{"blend": β,
  "friends_weight": {k: γ_k}}`` (what ``method`` reads)."""
  count = len(pools.users)
  if method == "popularity":
    return np.broadcast_to(popularity, (count, len(popularity)))
  if method == "friends":
    return listening
  if method == "friends+popularity":
    return (1.0 - params["blend"]) * listening + params["blend"] * popularity
  own = pools.pool[:, :k]
  if method == "ials":
    if k == 0:
      return None
    x = als.fold_in_weighted(own, np.ones(own.shape))
  else:
    x = np.concatenate([_fold_in_with_friends(als, own[start:start + _CHUNK],
                                              params["friends_weight"][k]
                                              * listening[start:start + _CHUNK])
                        for start in range(0, count, _CHUNK)])
  return x @ als.item_factors.T


def _fold_in_with_friends(als: baselines.ImplicitALS, own: np.ndarray,
                          friend_weight: np.ndarray) -> np.ndarray:
  """``float64[B, factors]``: the fold-in of ``own [B, k]`` (weight 1) and of the
  other items with ``friend_weight [B, I] > 0`` (that weight)."""
  friend_weight = friend_weight.copy()
  np.put_along_axis(friend_weight, own, 0.0, axis=1)  # an own item is a full positive
  nonzero = [np.flatnonzero(w) for w in friend_weight]
  width = max((len(n) for n in nonzero), default=0)
  items = np.zeros((len(own), width), np.int64)
  weights = np.zeros((len(own), width))
  for b, n in enumerate(nonzero):
    items[b, :len(n)], weights[b, :len(n)] = n, friend_weight[b, n]
  return als.fold_in_weighted(np.concatenate([own, items], axis=1),
                              np.concatenate([np.ones(own.shape), weights], axis=1))


def per_user(scores: np.ndarray, pools: kshot.Pools, candidates: np.ndarray
              ) -> dict[str, np.ndarray]:
  """Per-user ``METRICS`` (``float64[B]``) of ``scores`` over ``candidates``
  minus each user's pool."""
  position = np.full(scores.shape[1], -1)
  position[candidates] = np.arange(len(candidates))
  per_user = metrics.per_user_full_catalogue(
      scores[:, candidates], position[pools.query], position[pools.pool],
      positives_mask=pools.query_mask, ks=CATALOGUE_K)
  return {m: per_user[m] for m in METRICS}


def _curves(pools: kshot.Pools, listening: np.ndarray, popularity: np.ndarray,
            als: baselines.ImplicitALS, candidates: np.ndarray,
            params: Mapping[str, Any], methods: Sequence[str] = METHODS,
            ks: Sequence[int] = K_SHOTS) -> dict[str, dict[int, dict[str, np.ndarray]]]:
  """``{method: {k: {metric: float64[B]}}}`` (methods without a score at ``k``
  are left out at that ``k``)."""
  out: dict[str, dict[int, dict[str, np.ndarray]]] = {}
  for method in methods:
    for k in ks:
      if method not in _USES_K and method in out:  # the same figures at every k
        out[method][k] = next(iter(out[method].values()))
        continue
      scores = _scores(method, k, pools, listening, popularity, als, params)
      if scores is not None:
        out.setdefault(method, {})[k] = per_user(scores, pools, candidates)
  return out


def choose(values: Sequence[Any], score) -> tuple[Any, dict[Any, float]]:
  """The value of ``values`` with the best ``score(value)`` (a mean validation
  nDCG@10), and every value's score."""
  scored = {value: score(value) for value in values}
  return max(scored, key=scored.get), scored


def mean_ndcg(curves: Mapping[str, Any], method: str, ks: Sequence[int]) -> float:
  """``method``'s mean over users and ``ks`` of the first of ``METRICS``."""
  return float(np.mean([np.nanmean(curves[method][k][METRICS[0]]) for k in ks]))


def evaluate_seed(interactions: Interactions, split: splits.ColdStartSplit, *, seed: int,
                  pool_size: int = 10, query_size: int = 10) -> dict[str, Any]:
  """One seed's k-shot curves on the test users, tuned on the validation users.

  Args:
    interactions: implicit data with a friend graph (Last.fm).
    split: the seed's cold-start split (the models' split).
    seed: the pools' seed.
    pool_size, query_size: as :func:`jaxrec.data.kshot.kshot_pools`.

  Returns:
    ``{"chosen": {"ials": {"factors", "reg", "alpha"}, "blend": β,
    "friends_weight": {k: γ_k}}, "validation": the validation nDCG@10 of every
    grid value (``{"ials": {setting: ·}, "blend": {β: ·}, "friends_weight": {k:
    {γ: ·}}}``), "users": {"val", "test",
    "dropped_test", "test_without_friends"}, "test_users": the test users' internal
    ids (``pools.users``, the order of every per-user list),
    "per_user": {method: {k: {metric: list[float]}}}}`` (test users, in
    ``pools.users`` order).

  Raises:
    ValueError: the data have no friend graph, or as the pieces it calls.
  """
  fit_args = splits.training_rows(interactions, split)
  popularity = friends_lib.training_popularity(interactions, split)
  candidates = split.train_items
  groups = {}
  for group in ("val", "test"):
    pools = kshot.kshot_pools(interactions, split, group, pool_size=pool_size,
                              query_size=query_size, seed=seed)
    listening, num_friends = friends_lib.friends_listening(interactions, split, pools.users)
    groups[group] = (pools, listening, num_friends)

  def curves(group, als, params, methods, ks=K_SHOTS):
    pools, listening, _ = groups[group]
    return _curves(pools, listening, popularity, als, candidates, params, methods, ks)
  fitted = {}
  for setting in itertools.product(*GRID["ials"].values()):
    fitted[setting] = baselines.ImplicitALS(**dict(zip(GRID["ials"], setting))).fit(
        *fit_args)
  setting, ials_scores = choose(list(fitted), lambda s: mean_ndcg(
      curves("val", fitted[s], {}, ("ials",), K_SHOTS[1:]), "ials", K_SHOTS[1:]))
  als = fitted[setting]
  blend, blend_scores = choose(GRID["blend"], lambda b: mean_ndcg(
      curves("val", als, {"blend": b}, ("friends+popularity",), (0,)),
      "friends+popularity", (0,)))
  chosen, scores = {}, {}
  for k in K_SHOTS:
    chosen[k], scores[k] = choose(GRID["friends_weight"], lambda w, k=k: mean_ndcg(
        curves("val", als, {"friends_weight": {k: w}}, ("ials+friends",), (k,)),
        "ials+friends", (k,)))
  test = curves("test", als, {"blend": blend, "friends_weight": chosen}, METHODS)
  pools, _, num_friends = groups["test"]
  names = list(GRID["ials"])
  return {"chosen": {"ials": dict(zip(names, setting)), "blend": blend,
                     "friends_weight": chosen},
          "validation": {"ials": {str(dict(zip(names, s))): v for s, v in ials_scores.items()},
                         "blend": blend_scores, "friends_weight": scores},
          "users": {"val": len(groups["val"][0].users), "test": len(pools.users),
                    "dropped_test": pools.num_dropped,
                    "test_without_friends": int((num_friends == 0).sum())},
          "test_users": pools.users.tolist(),
          "per_user": {m: {k: {name: v.tolist() for name, v in by_metric.items()}
                           for k, by_metric in by_k.items()} for m, by_k in test.items()}}


# The paired comparisons reported: (method, reference, the ks where both exist).
COMPARISONS = (("friends", "popularity", (0,)),
               ("friends+popularity", "friends", (0,)),
               ("ials+friends", "friends+popularity", K_SHOTS),
               ("ials+friends", "ials", K_SHOTS[1:]))


def pool_seeds(seeds: Mapping[int, Mapping[str, Any]], methods: Sequence[str] = METHODS,
               ks: Sequence[int] = K_SHOTS,
               comparisons: Sequence[tuple[str, str, Sequence[int]]] = COMPARISONS
               ) -> dict[str, Any]:
  """Means over seeds with seed-level 95% CIs, and the paired differences.

  A method's figure at ``k`` is the mean over seeds of its per-seed mean over
  test users, with the t interval over the seed means; a paired difference is
  the t interval over the per-seed mean differences of the same users (the rule
  of :func:`jaxrec.results.paired_differences`, here over one seed's aligned
  per-user lists rather than runs' ``per_user.npz``). The other k-shot studies
  (:mod:`jaxrec.profile_curves`, :mod:`jaxrec.sentence_proxy`) pass their own
  ``methods``, ``ks`` and ``comparisons``.

  Args:
    seeds: seed -> ``{"per_user": {method: {k: {metric: [float]}}}}``.
    methods, ks: what the table holds (missing entries are left out).
    comparisons: ``(method, reference, ks)`` of the paired differences.

  Returns:
    ``{"table": {method: {k: {metric: [mean, ci95]}}}, "paired": [{"method",
    "reference", "k", "metric", "mean", "ci95", "low", "seeds"}]}`` (``low`` =
    ``mean - ci95``, the lower CI bound).

  Raises:
    ValueError: a method and its reference have different numbers of users.
  """
  def seed_means(method, k, metric):
    return [float(np.nanmean(run["per_user"][method][k][metric])) for run in seeds.values()
            if k in run["per_user"].get(method, {})]
  table = {}
  for method, k, metric in itertools.product(methods, ks, METRICS):
    values = seed_means(method, k, metric)
    if values:
      mean, ci, _ = mean_ci95(values)
      table.setdefault(method, {}).setdefault(k, {})[metric] = [mean, ci]
  paired = []
  for method, reference, at in comparisons:
    for k, metric in itertools.product(at, METRICS):
      diffs = []
      for seed, run in seeds.items():
        ours = np.asarray(run["per_user"][method][k][metric])
        theirs = np.asarray(run["per_user"][reference][k][metric])
        if ours.shape != theirs.shape:
          raise ValueError(f"seed {seed}, k = {k}: {method!r} has {len(ours)} users, "
                           f"{reference!r} {len(theirs)}: not the same pools")
        diffs.append(float(np.nanmean(ours - theirs)))
      mean, ci, n = mean_ci95(diffs)
      paired.append({"method": method, "reference": reference, "k": k, "metric": metric,
                     "mean": mean, "ci95": ci, "low": mean - ci, "seeds": n})
  return {"table": table, "paired": paired}
