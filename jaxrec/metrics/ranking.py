"""Tie-aware top-k ranking metrics over each user's query set (or the catalogue).

Conventions shared by every function here:

* Each user ``b`` ranks only their real query items (``mask[b, q] == 1``) by
  descending predicted score; padded positions never count. The metric is
  computed per user, then averaged over the users for which it is defined (the
  ``per_user_*`` functions return ``float64[B]`` with NaN for excluded users).
* ``k`` is truncated per user to ``k_b = min(k, n_b)``, where ``n_b`` is the
  number of the user's real query items.
* Ties: items whose predicted scores are exactly equal form a tie group. The
  metric is the expected value over a uniformly random order inside every tie
  group (McSherry & Najork, ECIR 2008), so a constant predictor scores the
  expectation of a random ranking instead of a lucky or unlucky fixed order.
  For a tie group ``G`` covering 0-based ranks ``[s_G, s_G + |G|)``, every rank
  ``r`` in it holds each member with probability ``1 / |G|``, so by linearity
  the expected per-item quantity ``v`` at rank ``r`` is ``v_bar_G = mean_{i in G}
  v_i``. nDCG, precision, recall and F1 are linear in these expectations and
  are therefore exact expected values; the hit rate is computed exactly from
  the hypergeometric law of the tie group that straddles the cut-off.
* Relevance: item ``q`` is relevant when ``y[b, q] >= relevance_threshold``
  (4 for 1-5 star ratings; use 1 for implicit 0/1 labels).

The module stays whole (over 400 lines, mostly docstrings) because it is one idea:
tie-aware ranking of a user's candidates. The full-catalogue functions are the
query-set ones run with the catalogue as the query set, and every metric shares the
tie-group helpers (``_sorted_ties``, ``_expected_by_rank``, ``_prefix_sum``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jaxrec.metrics import _checks

_Ties = tuple[np.ndarray, np.ndarray, np.ndarray]


def per_user_ndcg_at_k(scores, y, mask, k: int) -> np.ndarray:
  """Per-user tie-aware nDCG@k with linear gain ``g_q = y[b, q]``.

  ``nDCG@k_b = E[DCG@k_b] / IDCG@k_b`` with
  ``DCG@k_b = sum_{r=0}^{k_b-1} g_(r) / log2(r + 2)`` (``g_(r)``: gain of the
  item at 0-based rank ``r`` of the predicted order; the expectation is over
  random orders of tied scores) and ``IDCG@k_b`` the same sum for the ideal
  order of the same query items (descending ``y``).

  Args:
    scores: ``float[B, Q]`` predicted scores.
    y: ``float[B, Q]`` true ratings (the gains), ``>= 0`` on real rows.
    mask: ``float[B, Q]``, 1 for a real query row.
    k: cut-off, ``>= 1``; truncated to ``n_b`` per user.

  Returns:
    ``float64[B]``; NaN for users with no query row or ``IDCG = 0`` (all gains
    zero: nothing to rank).

  Raises:
    ValueError: on malformed inputs, ``k < 1`` or a negative ``y`` on a real row.
  """
  scores, y, real = _checks.query_arrays(scores, y, mask)
  return _ndcg(scores, _nonnegative(y, real), real, k)


def per_user_ndcg_exp_at_k(scores, y, mask, k: int) -> np.ndarray:
  """Per-user tie-aware nDCG@k with exponential gain ``g_q = 2^y[b, q] - 1``.

  Identical to ``per_user_ndcg_at_k`` except for the gain; shapes, exclusions
  and errors are the same.
  """
  scores, y, real = _checks.query_arrays(scores, y, mask)
  return _ndcg(scores, np.exp2(_nonnegative(y, real)) - 1.0, real, k)


def per_user_precision_at_k(scores, y, mask, k: int,
                            relevance_threshold: float = 4.0) -> np.ndarray:
  """Per-user tie-aware precision@k: ``E[hits@k_b] / k_b``.

  ``hits@k_b`` is the number of relevant items (``y >= relevance_threshold``)
  among the top ``k_b = min(k, n_b)`` predicted items, so a user with fewer
  than ``k`` query items is divided by ``n_b``, not ``k``. Users without
  relevant items are included (their precision is 0).

  Args:
    scores: ``float[B, Q]`` predicted scores.
    y: ``float[B, Q]`` true ratings / labels.
    mask: ``float[B, Q]``, 1 for a real query row.
    k: cut-off, ``>= 1``.
    relevance_threshold: minimum ``y`` of a relevant item.

  Returns:
    ``float64[B]``; NaN for users with no query row.

  Raises:
    ValueError: on malformed inputs, ``k < 1`` or a non-finite threshold.
  """
  hits, k_eff, _ = _expected_hits(scores, y, mask, k, relevance_threshold)
  return np.where(k_eff > 0, hits / np.maximum(k_eff, 1), np.nan)


def per_user_recall_at_k(scores, y, mask, k: int,
                         relevance_threshold: float = 4.0) -> np.ndarray:
  """Per-user tie-aware recall@k: ``E[hits@k_b] / R_b``.

  ``R_b`` is the number of the user's relevant query items; users with
  ``R_b = 0`` are excluded (NaN). Arguments, ``k`` truncation and errors as in
  ``per_user_precision_at_k``. Returns ``float64[B]``.
  """
  hits, _, num_relevant = _expected_hits(scores, y, mask, k, relevance_threshold)
  return np.where(num_relevant > 0, hits / np.maximum(num_relevant, 1), np.nan)


def per_user_f1_at_k(scores, y, mask, k: int,
                     relevance_threshold: float = 4.0) -> np.ndarray:
  """Per-user tie-aware F1@k: ``2 E[hits@k_b] / (k_b + R_b)``.

  This is the harmonic mean of precision@k and recall@k; because F1 is linear
  in ``hits`` for fixed ``k_b`` and ``R_b``, it is also the exact expected F1
  over tie orders. Users with ``R_b = 0`` are excluded (NaN). Arguments and
  errors as in ``per_user_precision_at_k``. Returns ``float64[B]``.
  """
  hits, k_eff, num_relevant = _expected_hits(scores, y, mask, k, relevance_threshold)
  return np.where(num_relevant > 0, 2.0 * hits / np.maximum(k_eff + num_relevant, 1),
                  np.nan)


def per_user_auc(scores, y, mask, relevance_threshold: float = 1.0) -> np.ndarray:
  """Per-user ROC AUC of relevant (positive) vs other (negative) query items.

  ``AUC_b = (1 / (P_b N_b)) sum_{i pos} sum_{j neg} ([s_i > s_j] + [s_i = s_j] / 2)``,
  computed with mid-ranks: ``(sum_{i pos} midrank_i - P_b (P_b + 1) / 2) / (P_b N_b)``.

  Args:
    scores: ``float[B, Q]`` predicted scores.
    y: ``float[B, Q]`` labels; positive when ``y >= relevance_threshold``
      (the default 1 suits implicit 0/1 labels; use 4 for 1-5 star ratings).
    mask: ``float[B, Q]``, 1 for a real query row.
    relevance_threshold: minimum ``y`` of a positive.

  Returns:
    ``float64[B]``; NaN for users lacking a positive or a negative.

  Raises:
    ValueError: on malformed inputs or a non-finite threshold.
  """
  scores, y, real = _checks.query_arrays(scores, y, mask)
  positive = (y >= _threshold(relevance_threshold)) & real
  order, group, _ = _sorted_ties(scores, real)
  num_real = real.sum(axis=1)
  rank = np.broadcast_to(np.arange(scores.shape[1], dtype=np.float64), scores.shape)
  mean_rank = np.bincount(group.ravel(), rank.ravel()) / np.bincount(group.ravel())
  ascending_midrank = num_real[:, None] - mean_rank[group]
  num_pos = positive.sum(axis=1)
  num_neg = num_real - num_pos
  u_stat = (np.where(np.take_along_axis(positive, order, -1), ascending_midrank, 0.0)
            .sum(axis=1) - num_pos * (num_pos + 1) / 2.0)
  valid = (num_pos > 0) & (num_neg > 0)
  return np.where(valid, u_stat / np.maximum(num_pos * num_neg, 1), np.nan)


def ndcg_at_k(scores, y, mask, k: int) -> float:
  """Mean over users of ``per_user_ndcg_at_k`` (linear gain); NaN if none is defined.

  Takes ``float[B, Q]`` arrays; raises ValueError as ``per_user_ndcg_at_k``.
  """
  return _checks.mean_over_users(per_user_ndcg_at_k(scores, y, mask, k))


def ndcg_exp_at_k(scores, y, mask, k: int) -> float:
  """Mean over users of ``per_user_ndcg_exp_at_k`` (gain ``2^y - 1``).

  Takes ``float[B, Q]`` arrays; returns NaN if no user is defined; raises
  ValueError as ``per_user_ndcg_exp_at_k``.
  """
  return _checks.mean_over_users(per_user_ndcg_exp_at_k(scores, y, mask, k))


def precision_at_k(scores, y, mask, k: int, relevance_threshold: float = 4.0) -> float:
  """Mean over users with a query row of ``per_user_precision_at_k``.

  Takes ``float[B, Q]`` arrays; returns NaN if no user has a query row; raises
  ValueError as ``per_user_precision_at_k``.
  """
  return _checks.mean_over_users(
      per_user_precision_at_k(scores, y, mask, k, relevance_threshold))


def recall_at_k(scores, y, mask, k: int, relevance_threshold: float = 4.0) -> float:
  """Mean over users with a relevant query item of ``per_user_recall_at_k``.

  Takes ``float[B, Q]`` arrays; returns NaN if no user has a relevant item;
  raises ValueError as ``per_user_precision_at_k``.
  """
  return _checks.mean_over_users(
      per_user_recall_at_k(scores, y, mask, k, relevance_threshold))


def f1_at_k(scores, y, mask, k: int, relevance_threshold: float = 4.0) -> float:
  """Mean over users with a relevant query item of ``per_user_f1_at_k``.

  Takes ``float[B, Q]`` arrays; returns NaN if no user has a relevant item;
  raises ValueError as ``per_user_precision_at_k``.
  """
  return _checks.mean_over_users(
      per_user_f1_at_k(scores, y, mask, k, relevance_threshold))


def auc(scores, y, mask, relevance_threshold: float = 1.0) -> float:
  """Mean over users having both classes of ``per_user_auc``.

  Takes ``float[B, Q]`` arrays; returns NaN if no user has both classes;
  raises ValueError as ``per_user_auc``.
  """
  return _checks.mean_over_users(per_user_auc(scores, y, mask, relevance_threshold))


def indicator_matrix(items, mask, num_items: int, name: str = "items") -> np.ndarray:
  """Turns per-user item lists into a ``bool[B, num_items]`` membership matrix.

  Args:
    items: either a padded ``int[B, L]`` numpy array (with ``mask``), or a
      ragged sequence of ``B`` one-dimensional integer sequences (``mask`` must
      then be None).
    mask: ``float[B, L]`` (1 = real entry) for padded ``items``; None means
      every entry of a padded array is real.
    num_items: catalogue size ``I``.
    name: argument name used in error messages.

  Returns:
    ``bool[B, I]``, true where user ``b`` lists item ``i``.

  Raises:
    ValueError: on a mask given with ragged lists, a shape mismatch, or an item
      id outside ``[0, num_items)`` (naming the row and id).
  """
  if isinstance(items, np.ndarray) and items.ndim == 2:
    real = (np.ones(items.shape, bool) if mask is None
            else np.asarray(mask, np.float64) == 1.0)
    if real.shape != items.shape:
      raise ValueError(f"'{name}_mask' has shape {real.shape}, '{name}' has {items.shape}")
    rows = [items[b][real[b]] for b in range(items.shape[0])]
  elif mask is not None:
    raise ValueError(f"'{name}' is ragged (a sequence of lists); '{name}_mask' must be None")
  else:
    rows = [np.asarray(row).reshape(-1) for row in items]
  out = np.zeros((len(rows), num_items), bool)
  for b, row in enumerate(rows):
    row = row.astype(np.int64)
    bad = (row < 0) | (row >= num_items)
    if bad.any():
      raise ValueError(f"'{name}' row {b} has item id {row[bad][0]} outside "
                       f"[0, {num_items})")
    out[b, row] = True
  return out


def per_user_full_catalogue(score_matrix, positives, exclude=None, *,
                            positives_mask=None, exclude_mask=None,
                            ks: int | Sequence[int] = 10) -> dict[str, np.ndarray]:
  """Per-user tie-aware recall@k, nDCG@k and hit rate@k against the catalogue.

  User ``b`` ranks every catalogue item not in ``exclude[b]`` (typically the
  support items they were shown) by ``score_matrix[b]``; ``positives[b]`` (the
  held-out relevant items) are relevant with binary gain. With ``R_b``
  positives and ``k_b = min(k, #candidates)``:
  ``recall@k = E[hits@k_b] / R_b``; ``ndcg@k = E[DCG@k_b] / IDCG@k_b`` (gain 1
  per positive, IDCG puts the ``min(k_b, R_b)`` positives first);
  ``hit@k = P(hits@k_b >= 1)``, exact over random tie orders.

  Args:
    score_matrix: ``float[B, I]`` scores of every item for every user.
    positives: padded ``int[B, P]`` (with ``positives_mask``) or ragged lists.
    exclude: padded ``int[B, E]`` (with ``exclude_mask``), ragged lists, or None.
    positives_mask: ``float[B, P]`` or None (see ``indicator_matrix``).
    exclude_mask: ``float[B, E]`` or None.
    ks: one cut-off or several.

  Returns:
    ``{"recall@k", "ndcg@k", "hit@k"}`` for each ``k``, each ``float64[B]``;
    NaN for users without positives.

  Raises:
    ValueError: if ``score_matrix`` is not 2-D, has a non-finite candidate
      score, the row counts differ, an id is out of range, a positive is also
      excluded, ``ks`` is empty, or a ``k < 1``.
  """
  scores = np.asarray(score_matrix, np.float64)
  if scores.ndim != 2:
    raise ValueError(f"'score_matrix' must be 2-D [B, I], got shape {scores.shape}")
  num_users, num_items = scores.shape
  relevant = indicator_matrix(positives, positives_mask, num_items, "positives")
  excluded = (np.zeros_like(relevant) if exclude is None
              else indicator_matrix(exclude, exclude_mask, num_items, "exclude"))
  for name, matrix in (("positives", relevant), ("exclude", excluded)):
    if matrix.shape[0] != num_users:
      raise ValueError(f"'{name}' has {matrix.shape[0]} rows, 'score_matrix' has "
                       f"{num_users}")
  clash = relevant & excluded
  if clash.any():
    b, i = np.argwhere(clash)[0]
    raise ValueError(f"user row {b}: item {i} is both in 'positives' and 'exclude'")
  scores, labels, candidates = _checks.query_arrays(scores, relevant, ~excluded)
  has_positive = relevant.any(axis=1)
  ks = (ks,) if np.isscalar(ks) else tuple(ks)
  if not ks:
    raise ValueError("'ks' must hold at least one cut-off")
  scores, relevant, candidates = _top_columns(
      scores, relevant, candidates, max(_checks.positive_int(k, "k") for k in ks))
  labels = relevant.astype(np.float64)
  out = {}
  for k in ks:
    out[f"recall@{k}"] = per_user_recall_at_k(scores, labels, candidates, k, 1.0)
    out[f"ndcg@{k}"] = per_user_ndcg_at_k(scores, labels, candidates, k)
    out[f"hit@{k}"] = np.where(
        has_positive, _expected_hit(scores, relevant, candidates, k), np.nan)
  return out


def _top_columns(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Drops the catalogue columns that cannot affect a metric at cut-offs ``<= k``.

  Row ``b`` keeps its candidates scoring at least its ``k``-th best candidate
  score (a tie group at that score is kept whole) and all its relevant
  candidates. The kept items rank among themselves exactly as among all
  candidates down to position ``k``, ``k_b`` is unchanged (at least ``k`` items
  are kept, or every candidate when there are fewer), and every positive is
  kept (so ``R_b`` and IDCG are unchanged): the tie-aware metrics are exactly
  the same, at the cost of one partition instead of a full sort. Returns the
  ``[B, W]`` arrays ``(scores, relevant, candidates)``, padded with
  non-candidate columns.
  """
  if k >= scores.shape[1]:
    return scores, relevant, candidates
  masked = np.where(candidates, scores, -np.inf)
  kth = -np.partition(-masked, k - 1, axis=1)[:, k - 1:k]
  keep = candidates & ((masked >= kth) | relevant)
  columns = np.argsort(~keep, axis=1, kind="stable")[:, :max(int(keep.sum(1).max()), 1)]
  return tuple(np.take_along_axis(a, columns, axis=1) for a in (scores, relevant, keep))


def full_catalogue_ranking(score_matrix, positives, exclude=None, *,
                           positives_mask=None, exclude_mask=None,
                           ks: int | Sequence[int] = 10) -> dict[str, float]:
  """User-averaged ``per_user_full_catalogue`` metrics (same arguments and errors).

  Returns ``{"recall@k", "ndcg@k", "hit@k"}`` for each ``k`` as floats, averaged
  over users with at least one positive, plus ``"num_users"``: that count.
  """
  per_user = per_user_full_catalogue(score_matrix, positives, exclude,
                                     positives_mask=positives_mask,
                                     exclude_mask=exclude_mask, ks=ks)
  out = {key: _checks.mean_over_users(values) for key, values in per_user.items()}
  out["num_users"] = int((~np.isnan(next(iter(per_user.values())))).sum())
  return out


def _threshold(value: float) -> float:
  """Validates a relevance threshold (finite number)."""
  if not np.isfinite(value):
    raise ValueError(f"'relevance_threshold' must be finite, got {value!r}")
  return float(value)


def _nonnegative(y: np.ndarray, real: np.ndarray) -> np.ndarray:
  """Returns ``y`` unchanged; raises ValueError naming a negative gain on a real row."""
  bad = real & (y < 0)
  if bad.any():
    b, q = np.argwhere(bad)[0]
    raise ValueError(f"nDCG needs non-negative gains; y[{b}, {q}] = {y[b, q]}")
  return y


def _sorted_ties(scores: np.ndarray, real: np.ndarray) -> _Ties:
  """Sorts each row by descending score (real rows first) and labels tie groups.

  Returns ``(order int[B, Q], group int[B, Q], real_sorted bool[B, Q])``:
  ``scores[b, order[b, r]]`` is the ``r``-th best score; ``group[b, r]`` is a
  global id shared exactly by the equal-score real items (padded positions get
  groups of their own, never mixed with real ones).
  """
  order = np.lexsort((-scores, ~real), axis=-1)
  sorted_scores = np.take_along_axis(scores, order, -1)
  real_sorted = np.take_along_axis(real, order, -1)
  new_group = np.ones(scores.shape, bool)
  new_group[:, 1:] = ((sorted_scores[:, 1:] != sorted_scores[:, :-1])
                      | (real_sorted[:, 1:] != real_sorted[:, :-1]))
  group = np.cumsum(new_group).reshape(scores.shape) - 1
  return order, group, real_sorted


def _expected_by_rank(values: np.ndarray, ties: _Ties) -> np.ndarray:
  """``float[B, Q]``: expected ``values`` at each rank = mean over its tie group.

  Padded positions hold 0.
  """
  order, group, real_sorted = ties
  by_rank = np.where(real_sorted, np.take_along_axis(values, order, -1), 0.0)
  group_mean = np.bincount(group.ravel(), by_rank.ravel()) / np.bincount(group.ravel())
  return group_mean[group]


def _prefix_sum(by_rank: np.ndarray, k_eff: np.ndarray) -> np.ndarray:
  """``float[B]``: ``sum_{r < k_eff[b]} by_rank[b, r]``."""
  curve = np.concatenate([np.zeros((by_rank.shape[0], 1)), np.cumsum(by_rank, axis=1)],
                         axis=1)
  return np.take_along_axis(curve, k_eff[:, None], axis=1)[:, 0]


def _ndcg(scores: np.ndarray, gains: np.ndarray, real: np.ndarray, k: int) -> np.ndarray:
  """Tie-aware nDCG@k per row of validated arrays; NaN where IDCG = 0."""
  k_eff = np.minimum(_checks.positive_int(k, "k"), real.sum(axis=1))
  discount = 1.0 / np.log2(np.arange(scores.shape[1]) + 2.0)
  dcg = _prefix_sum(_expected_by_rank(gains, _sorted_ties(scores, real)) * discount, k_eff)
  ideal = -np.sort(-np.where(real, gains, 0.0), axis=1)
  idcg = _prefix_sum(ideal * discount, k_eff)
  return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), np.nan)


def _expected_hits(scores, y, mask, k: int, relevance_threshold: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Returns ``(E[hits@k_b] float[B], k_b int[B], R_b int[B])`` for raw inputs."""
  scores, y, real = _checks.query_arrays(scores, y, mask)
  relevant = (y >= _threshold(relevance_threshold)) & real
  k_eff = np.minimum(_checks.positive_int(k, "k"), real.sum(axis=1))
  hits = _prefix_sum(_expected_by_rank(relevant.astype(np.float64),
                                       _sorted_ties(scores, real)), k_eff)
  return hits, k_eff, relevant.sum(axis=1)


def _expected_hit(scores: np.ndarray, relevant: np.ndarray, real: np.ndarray,
                  k: int) -> np.ndarray:
  """``float[B]``: ``P(at least one relevant item in the top k_b)`` over tie orders.

  Groups entirely above the cut-off are certain; for the group ``G`` straddling
  it, with ``m`` of its ``|G|`` items inside the top ``k_b`` and ``R_G`` of them
  relevant, ``P(miss) = C(|G| - R_G, m) / C(|G|, m)`` (hypergeometric). Users
  with no candidate get 0.
  """
  order, group, _ = _sorted_ties(scores, real)
  relevant_by_rank = np.take_along_axis(relevant & real, order, -1)
  flat_group = group.ravel()
  group_size = np.bincount(flat_group)
  group_relevant = np.bincount(flat_group, relevant_by_rank.ravel()).astype(np.int64)
  group_start = np.flatnonzero(np.diff(flat_group, prepend=-1)) % scores.shape[1]
  k_eff = np.minimum(_checks.positive_int(k, "k"), real.sum(axis=1))
  hit = np.zeros(scores.shape[0])
  for b in np.flatnonzero(k_eff):
    g = group[b, k_eff[b] - 1]
    start, size, rel = group_start[g], int(group_size[g]), int(group_relevant[g])
    if relevant_by_rank[b, :start].any():
      hit[b] = 1.0
    else:
      inside = int(k_eff[b] - start)
      hit[b] = 1.0 - math.comb(size - rel, inside) / math.comb(size, inside)
  return hit
