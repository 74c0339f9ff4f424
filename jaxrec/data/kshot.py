"""Fixed k-shot pools: one set of users and one query set across every k.

A k-shot curve compares methods at ``k = 0, 1, 3, ...`` ratings. So that its
points differ only by ``k``, every held-out user of a group gets once, from a
seeded shuffle of the distinct training items they rated, a *pool* of
``pool_size`` items and a *query* of up to ``query_size`` other items; the support at ``k`` is
the first ``k`` items of the pool, and the rest of the pool is excluded from the
candidates at every ``k`` (neither hit nor miss). Users with fewer than
``pool_size + 1`` such items are left out and counted. Every rating counts as a
positive: the pools are for implicit data (every row of Last.fm's
``user_artists.dat``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrec.data import splits
from jaxrec.data.interactions import Interactions


@dataclasses.dataclass(frozen=True)
class Pools:
  """The fixed pools and queries of one user group.

  Attributes:
    users: ``int32[U]`` internal user ids.
    pool: ``int32[U, P]`` each user's pool items, in support order.
    query: ``int32[U, Q]`` each user's query items, padded with 0.
    query_mask: ``float32[U, Q]`` 1 for a real query item.
    num_dropped: users of the group with fewer than ``P + 1`` distinct
      training items.
  """

  users: np.ndarray
  pool: np.ndarray
  query: np.ndarray
  query_mask: np.ndarray
  num_dropped: int


def kshot_pools(interactions: Interactions, split: splits.ColdStartSplit, group: str, *,
                pool_size: int = 10, query_size: int = 10, seed: int = 0) -> Pools:
  """The pools and queries of ``group``'s users on the training items.

  Args:
    interactions, split: the data and its cold-start split.
    group: ``"val"`` or ``"test"`` (held-out users).
    pool_size: ``P``, the largest ``k`` of the curve.
    query_size: the most query items per user.
    seed: the shuffle's seed (with the user id, so a user's pool does not
      depend on the other users).

  Returns:
    A :class:`Pools`.

  Raises:
    ValueError: an unknown ``group``, ``pool_size < 1`` or ``query_size < 1``.
  """
  if group not in ("val", "test"):
    raise ValueError(f"group must be 'val' or 'test' (held-out users), got {group!r}")
  if pool_size < 1 or query_size < 1:
    raise ValueError(f"pool_size and query_size must be >= 1, got {pool_size}, "
                     f"{query_size}")
  group_users = getattr(split, f"{group}_users")
  rows = splits.user_rows(interactions, group_users) & splits.item_rows(
      interactions, split.train_items)
  order = np.argsort(interactions.user[rows], kind="stable")
  user = interactions.user[rows][order]
  item = interactions.item[rows][order]
  starts = np.searchsorted(user, group_users)
  ends = np.searchsorted(user, group_users, side="right")
  kept, pools, queries = [], [], []
  for u, start, end in zip(group_users, starts, ends):
    own = np.unique(item[start:end])  # a repeated (user, item) row counts once
    if len(own) < pool_size + 1:
      continue
    chosen = own[np.random.default_rng([seed, int(u)]).permutation(len(own))]
    kept.append(u)
    pools.append(chosen[:pool_size])
    queries.append(chosen[pool_size:pool_size + query_size])
  count = len(kept)
  query = np.zeros((count, query_size), np.int32)
  query_mask = np.zeros((count, query_size), np.float32)
  for n, q in enumerate(queries):
    query[n, :len(q)], query_mask[n, :len(q)] = q, 1.0
  return Pools(users=np.asarray(kept, np.int32),
               pool=np.asarray(pools, np.int32).reshape(count, pool_size),
               query=query, query_mask=query_mask,
               num_dropped=len(group_users) - count)
