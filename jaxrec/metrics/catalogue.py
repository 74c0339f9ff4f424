"""Beyond-accuracy metrics of top-k recommendation lists over the whole catalogue.

A top-k list is a row of ``topk int[B, k]`` holding internal item ids in
``[0, num_items)``, best first (see ``top_k_items``). Item popularity always
comes from the training interactions only.
"""

from __future__ import annotations

import numpy as np

from jaxrec.metrics import _checks
from jaxrec.metrics.ranking import per_user_full_catalogue


def top_k_items(score_matrix, k: int, exclude=None) -> np.ndarray:
  """The ``k`` best-scored items per user, deterministic under ties.

  Items are sorted by descending score; equal scores are broken by the smaller
  item id first, so the result never depends on the sort implementation.

  Args:
    score_matrix: ``float[B, I]`` scores.
    k: list length, ``1 <= k <= I - (excluded items of any user)``.
    exclude: optional ``bool[B, I]``, true for items never to recommend (e.g.
      the user's support items).

  Returns:
    ``int64[B, k]`` item ids.

  Raises:
    ValueError: if ``score_matrix`` is not 2-D, has a non-finite score on an
      eligible item, ``exclude`` has another shape, or some user has fewer than
      ``k`` eligible items.
  """
  scores = np.asarray(score_matrix, np.float64)
  if scores.ndim != 2:
    raise ValueError(f"'score_matrix' must be 2-D [B, I], got shape {scores.shape}")
  k = _checks.positive_int(k, "k")
  eligible = np.ones(scores.shape, bool) if exclude is None else ~np.asarray(exclude, bool)
  if eligible.shape != scores.shape:
    raise ValueError(f"'exclude' has shape {eligible.shape}, 'score_matrix' has "
                     f"{scores.shape}")
  too_few = eligible.sum(axis=1) < k
  if too_few.any():
    b = np.flatnonzero(too_few)[0]
    raise ValueError(f"user row {b} has {eligible[b].sum()} eligible items, fewer than "
                     f"k={k}")
  bad = eligible & ~np.isfinite(scores)
  if bad.any():
    b, i = np.argwhere(bad)[0]
    raise ValueError(f"non-finite score_matrix[{b}, {i}] = {scores[b, i]}")
  order = np.lexsort((-np.where(eligible, scores, 0.0), ~eligible), axis=-1)
  return order[:, :k]


def item_popularity(user, item, num_items: int) -> np.ndarray:
  """Number of distinct training users who interacted with each item.

  ``c_i = |{u : (u, i) in training}|`` (repeated (user, item) pairs count once).

  Args:
    user: ``int[N]`` training user ids.
    item: ``int[N]`` training item ids in ``[0, num_items)``.
    num_items: catalogue size ``I``.

  Returns:
    ``int64[I]``; 0 for items never seen in training.

  Raises:
    ValueError: if the lengths differ or an item id is out of range.
  """
  user = np.asarray(user, np.int64).reshape(-1)
  item = np.asarray(item, np.int64).reshape(-1)
  if len(user) != len(item):
    raise ValueError(f"'user' has {len(user)} entries, 'item' has {len(item)}")
  _check_ids(item, num_items, "item")
  pairs = np.unique(np.stack([user, item], axis=1), axis=0)
  return np.bincount(pairs[:, 1], minlength=num_items).astype(np.int64)


def coverage_at_k(topk, num_items: int) -> float:
  """Catalogue coverage: ``|union_b topk[b]| / num_items``.

  Args:
    topk: ``int[B, k]`` recommended item ids.
    num_items: catalogue size ``I`` (the denominator).

  Returns:
    The fraction of catalogue items appearing in at least one list, in [0, 1].

  Raises:
    ValueError: if ``topk`` is not 2-D or holds an id outside ``[0, num_items)``.
  """
  topk = _topk_array(topk, num_items)
  return float(len(np.unique(topk)) / num_items)


def novelty_at_k(topk, popularity, num_users: int) -> float:
  """Mean self-information ``-log2 p_i`` of the recommended items.

  ``p_i = (c_i + 1) / (num_users + 2)`` is the Laplace-smoothed probability that
  a training user has interacted with item ``i`` (``c_i`` from
  ``item_popularity``), so items never seen in training get
  ``p_i = 1 / (num_users + 2)`` instead of an infinite novelty. The result is
  ``mean_{b, j} -log2 p_{topk[b, j]}`` over all lists and positions.

  Args:
    topk: ``int[B, k]`` recommended item ids.
    popularity: ``int[I]`` training popularity counts ``c_i``.
    num_users: number of training users (``c_i <= num_users``).

  Returns:
    The mean novelty in bits.

  Raises:
    ValueError: on a bad ``topk``, a ``popularity`` that is not 1-D, has a
      negative entry or one above ``num_users``.
  """
  popularity = np.asarray(popularity, np.float64)
  if popularity.ndim != 1:
    raise ValueError(f"'popularity' must be 1-D [I], got shape {popularity.shape}")
  bad = (popularity < 0) | (popularity > num_users)
  if bad.any():
    i = np.flatnonzero(bad)[0]
    raise ValueError(f"popularity[{i}] = {popularity[i]} is outside [0, num_users="
                     f"{num_users}]")
  topk = _topk_array(topk, len(popularity))
  prob = (popularity[topk] + 1.0) / (num_users + 2.0)
  return float(np.mean(-np.log2(prob)))


def diversity_at_k(topk, item_vectors) -> float:
  """Intra-list diversity: mean pairwise cosine distance, averaged over users.

  ``div_b = (2 / (k (k - 1))) sum_{j < l} (1 - cos(v_{topk[b, j]}, v_{topk[b, l]}))``
  and the result is ``mean_b div_b``.

  Args:
    topk: ``int[B, k]`` recommended item ids, ``k >= 2``.
    item_vectors: ``float[I, d]`` item representations (e.g. text vectors).

  Returns:
    The mean diversity, in [0, 2].

  Raises:
    ValueError: on a bad ``topk``, ``k < 2``, ``item_vectors`` not 2-D, or a
      recommended item with a zero vector (its cosine is undefined).
  """
  vectors = np.asarray(item_vectors, np.float64)
  if vectors.ndim != 2:
    raise ValueError(f"'item_vectors' must be 2-D [I, d], got shape {vectors.shape}")
  topk = _topk_array(topk, len(vectors))
  k = topk.shape[1]
  if k < 2:
    raise ValueError(f"diversity needs lists of at least 2 items, got k={k}")
  norms = np.linalg.norm(vectors, axis=-1)
  zero = norms[topk] == 0
  if zero.any():
    b, j = np.argwhere(zero)[0]
    raise ValueError(f"item {topk[b, j]} (topk[{b}, {j}]) has a zero vector")
  unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
  upper = np.triu_indices(k, 1)
  # Users in chunks of ~2^22 gathered values: wide (e.g. tag one-hot) vectors
  # never materialise a [B, k, d] copy.
  chunk = max(1, (1 << 22) // (k * vectors.shape[1] + 1))
  distances = [1.0 - np.einsum("bjd,bld->bjl", unit[rows], unit[rows])[:, upper[0], upper[1]]
               for rows in np.split(topk, np.arange(chunk, len(topk), chunk))]
  return float(np.mean(np.concatenate(distances)))


def _check_ids(ids: np.ndarray, num_items: int, name: str) -> None:
  """Raises ValueError naming the first id of ``ids`` outside ``[0, num_items)``."""
  bad = (ids < 0) | (ids >= num_items)
  if bad.any():
    raise ValueError(f"'{name}' has item id {ids[bad][0]} outside [0, {num_items})")


def _topk_array(topk, num_items: int) -> np.ndarray:
  """Validates ``topk`` as a 2-D integer array of ids in ``[0, num_items)``."""
  topk = np.asarray(topk)
  if topk.ndim != 2 or not np.issubdtype(topk.dtype, np.integer):
    raise ValueError(f"'topk' must be an integer array [B, k], got {topk.dtype} "
                     f"{topk.shape}")
  _check_ids(topk, num_items, "topk")
  return topk


def batch_full_catalogue(scores, batch, candidates, threshold: float, ks=10
                         ) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """Full-catalogue metrics of one padded episode batch's candidate rankings.

  Each real task (a query mask that is not all zero) ranks every item of
  ``candidates`` but its support items with ``y > 0``; its relevant items are
  the query items with ``y >= threshold``, the other query items stay ordinary
  candidates (:func:`jaxrec.metrics.per_user_full_catalogue`).

  Args:
    scores: ``float[B, C]`` scores of ``candidates`` for every task of the batch.
    batch: ``{"support", "query"}`` padded parts (``item``, ``y``, ``mask``).
    candidates: ``int[C]`` item ids.
    threshold: the relevance threshold (4 for ratings, 1 for implicit data).
    ks: the cut-offs.

  Returns:
    ``(per_user, seen)``: ``{"recall@k", "ndcg@k", "hit@k"}`` as ``float64[R]``
    over the ``R`` real tasks (NaN without a relevant item), and ``bool[R, C]``,
    the excluded (support) positions.
  """
  candidates = np.asarray(candidates)
  position = np.full(int(candidates.max(initial=0)) + 1, -1)
  position[candidates] = np.arange(len(candidates))
  real = batch["query"]["mask"].sum(axis=1) > 0
  scores = np.asarray(scores, np.float64)[real]

  def positions(part):
    items = np.asarray(part["item"])[real]
    inside = items < len(position)
    return np.where(inside, position[np.where(inside, items, 0)], -1), part["mask"][real] > 0
  (s_pos, s_ok), (q_pos, q_ok) = positions(batch["support"]), positions(batch["query"])
  s_ok &= (batch["support"]["y"][real] > 0) & (s_pos >= 0)
  relevant = q_ok & (batch["query"]["y"][real] >= threshold)
  seen = np.zeros(scores.shape, bool)
  rows, cols = np.nonzero(s_ok)
  seen[rows, s_pos[rows, cols]] = True
  per_user = per_user_full_catalogue(
      scores, np.where(relevant, q_pos, 0), np.where(s_ok, s_pos, 0),
      positives_mask=relevant, exclude_mask=s_ok, ks=ks)
  return per_user, seen
