"""k-shot curves of new MovieLens users from zero ratings up, with and without
their profile (age, gender, occupation, zip).

For one seed's split, the validation and test users get fixed pools and queries
(:func:`jaxrec.data.kshot.kshot_pools`, :func:`liked_pools`): the support at
``k`` is the first ``k`` pool items with their ratings, the positives are the
query items the user liked (rating ``>= LIKE_THRESHOLD``), and a user without a
liked query item is left out and counted. At each ``k`` of ``K_SHOTS`` every
method ranks the training items minus the user's pool; full-catalogue nDCG@10
and recall@10 of the liked query items are recorded per user. The methods:

* ``popularity``: the number of training users who liked ``i``;
* ``profile``: :class:`jaxrec.baselines.ProfileMeans`, the back-off means of the
  training users sharing the profile (shrinkage ``m``);
* ``mf_foldin`` (``k >= 1``): the tuned MF's ridge fold-in of the ``k`` support
  ratings, ``w = argmin Σ_j (r_j - μ - b_j - x_j·w)^2 + (w - w_0)ᵀ Λ (w - w_0)``
  over ``w = (p, b)`` with ``x_j = (q_j, 1)``, ``Λ = diag(λ_foldin, λ_bias)`` and
  prior mean ``w_0 = 0``; the score is ``μ + b + b_i + p·q_i``;
* ``mf_foldin+mean``: the same fold-in from the mean ``(p, b)`` of the training
  users (the prior without profile; at ``k = 0`` the prior alone);
* ``mf_foldin+profile``: the same fold-in from ``w_0(u)``, the back-off mean
  (:func:`jaxrec.baselines.profile.backoff_means`, shrinkage ``m'_k``) of the
  training users' ``(p_v, b_v)``: MF "with profile features".

The MF setting (mean over ``k >= 1`` of ``mf_foldin``), ``m`` (at ``k = 0``) and
``m'_k`` (at each ``k``) are chosen in that order on the validation users of the
seed, from ``GRID``; the test users are scored once with the choice. Only
training rows (training users x training items) enter any statistic.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec import baselines
from jaxrec import metrics
from jaxrec import tuned_baselines
from jaxrec import zero_ratings
from jaxrec.baselines import profile as profile_lib
from jaxrec.data import kshot
from jaxrec.data import splits
from jaxrec.data.interactions import Interactions

K_SHOTS = (0, 1, 2, 3)
METHODS = ("popularity", "profile", "mf_foldin", "mf_foldin+mean", "mf_foldin+profile")
METRICS = zero_ratings.METRICS
# a liked item (the explicit relevance threshold, 4): the query's and ``profile``'s positives
LIKE_THRESHOLD = metrics.relevance_threshold_for(False, None)
_SHRINKAGE = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
GRID = {"profile_shrinkage": _SHRINKAGE, "prior_shrinkage": _SHRINKAGE,
        # the MF grid of the models' tables (jaxrec.tuned_baselines)
        "mf": tuned_baselines.BASELINE_GRIDS["explicit"]["mf_foldin"][1]}
# The paired comparisons reported: (method, reference, the ks where both exist).
COMPARISONS = (("profile", "popularity", (0,)),
               ("mf_foldin+profile", "mf_foldin", K_SHOTS[1:]),
               ("mf_foldin+profile", "mf_foldin+mean", K_SHOTS),
               ("mf_foldin+profile", "profile", K_SHOTS))


@dataclasses.dataclass(frozen=True)
class LikedPools:
  """A group's fixed pools with explicit ratings.

  Attributes:
    pools: the :class:`jaxrec.data.kshot.Pools` of the users kept, whose
      ``query_mask`` is 1 only for a liked query item (``num_dropped``: users
      with fewer than ``P + 1`` training items).
    support_y: ``float64[B, P]`` the ratings of the pool items.
    profiles: ``int32[B, F]`` the users' profiles (:data:`BACKOFF_FIELDS
      <jaxrec.baselines.profile.BACKOFF_FIELDS>`).
    num_no_liked: users left out because no query item is liked.
  """

  pools: kshot.Pools
  support_y: np.ndarray
  profiles: np.ndarray
  num_no_liked: int


def liked_pools(interactions: Interactions, split: splits.ColdStartSplit, group: str, *,
                pool_size: int = 3, query_size: int = 20, seed: int = 0) -> LikedPools:
  """``group``'s k-shot pools for explicit ratings (module docstring).

  A rating of a repeated ``(user, item)`` row is the mean of its rows.

  Raises:
    ValueError: the data are implicit, or as :func:`jaxrec.data.kshot.kshot_pools`
      and :func:`jaxrec.baselines.profile.profile_matrix`.
  """
  if interactions.implicit:
    raise ValueError(f"{interactions.name}: liked_pools needs explicit ratings")
  pools = kshot.kshot_pools(interactions, split, group, pool_size=pool_size,
                            query_size=query_size, seed=seed)
  key = interactions.user.astype(np.int64) * interactions.num_items + interactions.item
  keys, row_key = np.unique(key, return_inverse=True)
  mean_rating = (np.bincount(row_key, interactions.rating.astype(np.float64))
                 / np.bincount(row_key))

  def ratings(items):
    wanted = pools.users[:, None].astype(np.int64) * interactions.num_items + items
    return mean_rating[np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)]
  liked = (ratings(pools.query) >= LIKE_THRESHOLD) & (pools.query_mask > 0)
  keep = liked.any(axis=1)
  kept = kshot.Pools(users=pools.users[keep], pool=pools.pool[keep], query=pools.query[keep],
                     query_mask=liked[keep].astype(np.float32),
                     num_dropped=pools.num_dropped)
  return LikedPools(pools=kept, support_y=ratings(pools.pool)[keep],
                    profiles=profile_lib.profile_matrix(interactions, kept.users),
                    num_no_liked=int((~keep).sum()))


def prior_fold_in(mf: baselines.MatrixFactorization, items: np.ndarray, ratings: np.ndarray,
                  prior: np.ndarray) -> np.ndarray:
  """``float64[B, rank + 1]``: ``w = (p, b)``, the ridge fold-in of the module
  docstring towards the prior mean ``w_0``.

  ``w = w_0 + (XᵀX + Λ)^{-1} Xᵀ (r - μ - b_j - X w_0)`` for the support ``items
  int[B, k]`` with ``ratings float[B, k]`` (``k = 0``: ``w = w_0``) and ``prior
  float[B, rank + 1]``; at ``w_0 = 0`` it is :meth:`MatrixFactorization.fold_in`.
  """
  design = np.concatenate([mf.item_factors[items], np.ones(items.shape + (1,))], axis=-1)
  target = ratings - mf.mu - mf.item_bias[items] - np.einsum("bkd,bd->bk", design, prior)
  fold_in_reg = mf.reg if mf.fold_in_reg is None else mf.fold_in_reg
  reg = np.append(np.full(mf.rank, fold_in_reg), mf.reg_bias)
  return prior + baselines.ridge_solve(design, target, reg)


@dataclasses.dataclass(frozen=True)
class Fitted:
  """What the methods read (:func:`fit_training`): the liked indicators, the MF
  and the training users' ``(p_v, b_v) [T, rank + 1]`` with their profiles ``[T, F]``."""
  likes: baselines.ProfileMeans
  mf: baselines.MatrixFactorization
  user_vectors: np.ndarray
  profiles: np.ndarray


def fit_training(interactions: Interactions, split: splits.ColdStartSplit,
                 mf_params: Mapping[str, Any]) -> Fitted:
  """The liked indicators (:class:`jaxrec.baselines.ProfileMeans`) and
  ``MatrixFactorization(**mf_params)`` fit on the training rows only
  (:func:`jaxrec.data.splits.training_mask`), with the training users' ``(p_v,
  b_v)`` and profiles.

  Raises:
    ValueError: as :func:`jaxrec.baselines.profile.profile_matrix` and the fits.
  """
  rows = splits.training_mask(interactions, split)
  fit_args = (interactions.user[rows], interactions.item[rows], interactions.rating[rows],
              interactions.num_users, interactions.num_items)
  profiles = profile_lib.profile_matrix(interactions, np.arange(interactions.num_users))
  likes = baselines.ProfileMeans(LIKE_THRESHOLD).fit(
      *fit_args[:3], split.train_users, profiles, interactions.num_items)
  mf = baselines.MatrixFactorization(**mf_params).fit(*fit_args)
  vectors = np.concatenate([mf.user_factors, mf.user_bias[:, None]], axis=1)
  return Fitted(likes, mf, vectors[split.train_users], profiles[split.train_users])


def _scores(method: str, k: int, group: LikedPools, fitted: Fitted,
            params: Mapping[str, Any]) -> np.ndarray | None:
  """``float64[B, I]`` scores of every item, or None where ``method`` has no score
  at ``k`` (``mf_foldin`` without ratings). ``params``: ``{"profile_shrinkage": m,
  "prior_shrinkage": {k: m'_k}}`` (what ``method`` reads)."""
  count = len(group.pools.users)
  if method == "popularity":
    popularity = np.asarray(fitted.likes.liked.sum(axis=0), np.float64)
    return np.broadcast_to(popularity, (count, len(popularity)))
  if method == "profile":
    return fitted.likes.scores(group.profiles, params["profile_shrinkage"])
  width = fitted.user_vectors.shape[1]
  if method == "mf_foldin":
    if k == 0:
      return None
    prior = np.zeros((count, width))
  elif method == "mf_foldin+mean":
    prior = np.broadcast_to(fitted.user_vectors.mean(axis=0), (count, width))
  else:
    prior = profile_lib.backoff_means(fitted.user_vectors, fitted.profiles, group.profiles,
                                      params["prior_shrinkage"][k])
  mf = fitted.mf
  w = prior_fold_in(mf, group.pools.pool[:, :k], group.support_y[:, :k], prior)
  return mf.mu + w[:, -1:] + mf.item_bias + w[:, :-1] @ mf.item_factors.T


def _curves(group: LikedPools, fitted: Fitted, candidates: np.ndarray,
            params: Mapping[str, Any], methods: Sequence[str] = METHODS,
            ks: Sequence[int] = K_SHOTS) -> dict[str, dict[int, dict[str, np.ndarray]]]:
  """``{method: {k: {metric: float64[B]}}}`` (methods without a score at ``k``
  are left out at that ``k``)."""
  out: dict[str, dict[int, dict[str, np.ndarray]]] = {}
  for method in methods:
    for k in ks:
      scores = _scores(method, k, group, fitted, params)
      if scores is not None:
        out.setdefault(method, {})[k] = zero_ratings.per_user(scores, group.pools,
                                                                candidates)
  return out


def evaluate_seed(interactions: Interactions, split: splits.ColdStartSplit, *, seed: int,
                  query_size: int = 20) -> dict[str, Any]:
  """One seed's k-shot curves on the test users, tuned on the validation users.

  Args:
    interactions: explicit ratings with the MovieLens user fields.
    split: the seed's cold-start split (the models' split).
    seed: the pools' seed.
    query_size: as :func:`liked_pools` (the pool holds ``max(K_SHOTS)`` items).

  Returns:
    ``{"chosen": {"mf": {"rank", "reg", "fold_in_reg"}, "profile_shrinkage": m,
    "prior_shrinkage": {k: m'_k}}, "validation": the validation nDCG@10 of every
    grid value (``{"mf": {setting: ·}, "profile_shrinkage": {m: ·},
    "prior_shrinkage": {k: {m': ·}}}``), "users": {"val", "test", "dropped_test",
    "no_liked_test"}, "per_user": {method: {k: {metric: list[float]}}}}`` (test
    users, in ``pools.users`` order).

  Raises:
    ValueError: the data are implicit or lack a profile field, or as the pieces
      it calls.
  """
  groups = {group: liked_pools(interactions, split, group, pool_size=K_SHOTS[-1],
                               query_size=query_size, seed=seed) for group in ("val", "test")}

  def mean_ndcg(fitted, params, method, at):
    curves = _curves(groups["val"], fitted, split.train_items, params, (method,), at)
    return zero_ratings.mean_ndcg(curves, method, at)
  names = list(GRID["mf"])
  fit_names = [n for n in names if n not in baselines.MatrixFactorization.PREDICT_PARAMS]
  fits = {}
  for setting in itertools.product(*(GRID["mf"][n] for n in fit_names)):
    fits[setting] = fit_training(interactions, split, dict(zip(fit_names, setting)))

  def with_setting(setting):
    params = dict(zip(names, setting))
    fitted = fits[tuple(params[n] for n in fit_names)]
    mf = fitted.mf.with_params(**{n: params[n] for n in names if n not in fit_names})
    return dataclasses.replace(fitted, mf=mf)
  setting, mf_scores = zero_ratings.choose(
      list(itertools.product(*GRID["mf"].values())),
      lambda s: mean_ndcg(with_setting(s), {}, "mf_foldin", K_SHOTS[1:]))
  fitted = with_setting(setting)
  profile_m, profile_scores = zero_ratings.choose(GRID["profile_shrinkage"], lambda m: mean_ndcg(
      fitted, {"profile_shrinkage": m}, "profile", (0,)))
  chosen, scores = {}, {}
  for k in K_SHOTS:
    chosen[k], scores[k] = zero_ratings.choose(GRID["prior_shrinkage"], lambda m, k=k: (
        mean_ndcg(fitted, {"prior_shrinkage": {k: m}}, "mf_foldin+profile", (k,))))
  test_group = groups["test"]
  test = _curves(test_group, fitted, split.train_items,
                 {"profile_shrinkage": profile_m, "prior_shrinkage": chosen}, METHODS)
  return {"chosen": {"mf": dict(zip(names, setting)), "profile_shrinkage": profile_m,
                     "prior_shrinkage": chosen},
          "validation": {"mf": {str(dict(zip(names, s))): v for s, v in mf_scores.items()},
                         "profile_shrinkage": profile_scores, "prior_shrinkage": scores},
          "users": {"val": len(groups["val"].pools.users), "test": len(test_group.pools.users),
                    "dropped_test": test_group.pools.num_dropped,
                    "no_liked_test": test_group.num_no_liked},
          "per_user": {m: {k: {name: v.tolist() for name, v in by_metric.items()}
                           for k, by_metric in by_k.items()} for m, by_k in test.items()}}
