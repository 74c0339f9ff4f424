"""The user graph (friends) of an `Interactions`, in CSR form over internal ids."""

from __future__ import annotations

import numpy as np

from jaxrec.data.interactions import Interactions


def symmetric_csr(source: np.ndarray, target: np.ndarray,
                  num_users: int) -> tuple[np.ndarray, np.ndarray]:
  """The undirected graph of the edges ``source[n] — target[n]`` in CSR form.

  Every edge is taken in both directions, repeats are merged and self-loops
  must have been removed by the caller.

  Args:
    source, target: ``int[E]`` internal user ids in ``[0, num_users)``.
    num_users: number of users ``U``.

  Returns:
    ``(offsets int64[U + 1], ids int32[E'])``: the friends of ``u`` are
    ``ids[offsets[u]:offsets[u + 1]]``, sorted.

  Raises:
    ValueError: `source` and `target` of different lengths, or a self-loop.
  """
  if len(source) != len(target):
    raise ValueError(f"source and target have {len(source)} and {len(target)} "
                     "entries")
  source, target = np.asarray(source, np.int64), np.asarray(target, np.int64)
  if (source == target).any():
    raise ValueError(f"self-loop at user {source[source == target][0]}")
  edges = np.unique(np.concatenate([source * num_users + target,
                                    target * num_users + source]))
  owner, ids = edges // num_users, edges % num_users
  offsets = np.searchsorted(owner, np.arange(num_users + 1)).astype(np.int64)
  return offsets, ids.astype(np.int32)


def friends_of(interactions: Interactions, user: int,
               among: np.ndarray | None = None) -> np.ndarray:
  """``int32[k]``: the sorted friends of `user`, only those in `among`.

  ``friends_of(d, u, among) = {v : v friend of u} ∩ among``; pass
  ``among=split.train_users`` so that no held-out user's friendship is used.

  Args:
    interactions: a dataset with a friend graph.
    user: an internal user id.
    among: ``int[m]`` internal user ids to keep, or None for every friend.

  Raises:
    ValueError: the dataset has no friend graph, or `user` is not in
      ``[0, num_users)``.
  """
  if interactions.friend_offsets is None:
    raise ValueError(f"{interactions.name}: no friend graph (friend_offsets is None)")
  if not 0 <= user < interactions.num_users:
    raise ValueError(f"{interactions.name}: user {user} is not an internal user id "
                     f"in [0, {interactions.num_users})")
  offsets = interactions.friend_offsets
  friends = interactions.friend_ids[offsets[user]:offsets[user + 1]]
  return friends if among is None else friends[np.isin(friends, among)]
