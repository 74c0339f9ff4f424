"""Scores for users with no ratings yet, from their friends and the crowd.

A new user with friends (HetRec Last.fm's ``user_friends.dat``) can be served
before their first rating. Only training information enters: the friends are
training users and their listening is their training rows (training users x
training items, :func:`jaxrec.data.splits.training_mask`), so nothing
propagates through held-out users.

* ``friends_listening``: ``f_u(i) = |{v ∈ F_u : v listened to i}| / |F_u|``
  over the training friends ``F_u`` (0 for a user without one);
* ``training_popularity``: ``p(i)``, the fraction of training users who
  listened to ``i``;
* the blend ``s_u(i) = (1 - β) f_u(i) + β p(i)`` (β tuned on validation users)
  and the implicit-ALS fold-in of the user's own positives plus the friends'
  items with weight ``γ f_u(i)``
  (:meth:`jaxrec.baselines.ImplicitALS.fold_in_weighted`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from jaxrec import metrics
from jaxrec.data import graph
from jaxrec.data import splits
from jaxrec.data.interactions import Interactions


def training_matrix(interactions: Interactions, split: splits.ColdStartSplit
                    ) -> sparse.csr_array:
  """``float64[U, I]`` 0/1: ``M[u, i] = 1`` for a training row of ``(u, i)``."""
  rows = splits.training_mask(interactions, split)
  matrix = sparse.csr_array(
      (np.ones(int(rows.sum())), (interactions.user[rows], interactions.item[rows])),
      shape=(interactions.num_users, interactions.num_items))
  matrix.data[:] = 1.0  # repeated rows count once
  return matrix


def training_popularity(interactions: Interactions, split: splits.ColdStartSplit
                        ) -> np.ndarray:
  """``float64[I]``: ``p(i)``, the fraction of training users with a training row on
  ``i`` (:func:`jaxrec.metrics.item_popularity` over the number of training users)."""
  rows = splits.training_mask(interactions, split)
  counts = metrics.item_popularity(interactions.user[rows], interactions.item[rows],
                                   interactions.num_items)
  return counts / max(len(split.train_users), 1)


def friends_listening(interactions: Interactions, split: splits.ColdStartSplit,
                      users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Each user's training friends' listening.

  Args:
    interactions: a dataset with a friend graph.
    split: its cold-start split (only ``train_users`` count as friends).
    users: ``int[B]`` internal user ids.

  Returns:
    ``(f float64[B, I], num_friends int64[B])``: ``f[b, i] = f_u(i)`` of the
    module docstring for ``u = users[b]``, and ``|F_u|``.

  Raises:
    ValueError: as :func:`jaxrec.data.graph.friends_of`.
  """
  matrix = training_matrix(interactions, split)
  friends = [graph.friends_of(interactions, int(u), among=split.train_users) for u in users]
  counts = np.asarray([len(f) for f in friends], np.int64)
  adjacency = sparse.csr_array(
      (np.concatenate([np.full(len(f), 1.0 / max(len(f), 1)) for f in friends] or [[]]),
       (np.repeat(np.arange(len(users)), counts),
        np.concatenate(friends or [np.zeros(0, np.int32)]))),
      shape=(len(users), interactions.num_users))
  return (adjacency @ matrix).toarray(), counts
