"""Scores for a new user from the profile they state: item means of the training
users who share it, backing off field by field.

A new MovieLens user states age, gender, occupation and zip code before any
rating. With the fields in the order of :data:`BACKOFF_FIELDS`, level ``l`` of a
user ``u`` is the group ``G_l(u)`` of training users whose first ``l`` fields
equal ``u``'s (level 0: every training user). For per-user values ``x_v``
(an item's "liked" indicator, or a user vector), the back-off mean is the
hierarchical shrinkage

  ``s_0 = (1 / n_0) Σ_{v ∈ G_0} x_v``,
  ``s_l(u) = (Σ_{v ∈ G_l(u)} x_v + m s_{l-1}(u)) / (n_l(u) + m)``,  ``n_l = |G_l(u)|``,

down to the full profile (``l = F``): a small group is pulled towards the group
one field coarser, an empty one equals it. The chain of a user stops at their
first unknown field (id 0): unknown values are not a shared profile.

:class:`ProfileMeans` scores item ``i`` by ``s_F(u)`` of ``x_v(i) = 1[r_vi >=
like_threshold]`` (the fraction of the profile's training users who liked
``i``, shrunk towards the coarser profiles'); at ``m → ∞`` it ranks as the
training likes' popularity. Only training rows (training users x training
items, :func:`jaxrec.data.splits.training_mask`) may enter: ``fit`` refuses a
row of a user outside ``train_users``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from scipy import sparse

from jaxrec.data.interactions import Interactions

#: The back-off chain over the MovieLens user fields, dropped from the end: the
#: zip prefix goes first (about 110 values for ~470 training users: most groups
#: hold one or two users), then occupation (21), then gender; age is kept last.
BACKOFF_FIELDS = ("age", "gender", "occupation", "zip")


def profile_matrix(interactions: Interactions, users: np.ndarray,
                   fields: Sequence[str] = BACKOFF_FIELDS) -> np.ndarray:
  """``int32[B, F]``: ``interactions.user_features[fields[f]][users[b]]``.

  Raises:
    ValueError: a field is missing or is multi-hot (``[U, m]``).
  """
  columns = []
  for field in fields:
    values = interactions.user_features.get(field)
    if values is None:
      raise ValueError(f"{interactions.name}: no user field {field!r} for the profile "
                       f"back-off (fields: {sorted(interactions.user_features)})")
    if values.ndim != 1:
      raise ValueError(f"{interactions.name}: user field {field!r} is multi-hot "
                       f"{values.shape}; the profile back-off needs one id per user")
    columns.append(values[np.asarray(users)])
  return np.stack(columns, axis=1).astype(np.int32).reshape(len(users), len(fields))


def backoff_means(values, profiles: np.ndarray, query_profiles: np.ndarray,
                  shrinkage: float) -> np.ndarray:
  """The back-off means ``s_F(u)`` of the module docstring for every query user.

  Args:
    values: ``x float[U, D]`` (dense or scipy sparse), one row per training user.
    profiles: ``int[U, F]`` the training users' profiles (fields in back-off order).
    query_profiles: ``int[B, F]`` the query users' profiles.
    shrinkage: ``m >= 0``.

  Returns:
    ``float64[B, D]``.

  Raises:
    ValueError: no training user, mismatched shapes, or ``m < 0``.
  """
  values = sparse.csr_array(values, dtype=np.float64)
  profiles, query_profiles = np.asarray(profiles), np.asarray(query_profiles)
  num_users = values.shape[0]
  if num_users == 0:
    raise ValueError("backoff_means needs at least one training user")
  if profiles.ndim != 2 or query_profiles.ndim != 2 or len(profiles) != num_users or (
      profiles.shape[1] != query_profiles.shape[1]):
    raise ValueError(f"profiles {profiles.shape} must be [U={num_users}, F] and "
                     f"query_profiles {query_profiles.shape} [B, F]")
  if not shrinkage >= 0:
    raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
  means = np.broadcast_to(values.sum(axis=0) / num_users,
                          (len(query_profiles), values.shape[1])).copy()
  active = np.ones(len(query_profiles), bool)
  for level in range(1, profiles.shape[1] + 1):
    active &= query_profiles[:, level - 1] != 0
    _, group = np.unique(np.concatenate([profiles[:, :level], query_profiles[:, :level]]),
                         axis=0, return_inverse=True)
    group = group.ravel()
    train_group, query_group = group[:num_users], group[num_users:]
    count = np.bincount(train_group, minlength=group.max() + 1)[query_group]
    members = sparse.csr_array((np.ones(num_users), (train_group, np.arange(num_users))),
                               shape=(group.max() + 1, num_users))
    update = active & (count > 0)
    sums = (members @ values)[query_group[update]].toarray()
    means[update] = ((sums + shrinkage * means[update])
                     / (count[update, None] + shrinkage))
  return means


class ProfileMeans:
  """Item scores from the training users sharing a profile (module docstring).

  ``fit`` keeps the training users' liked indicators and profiles; ``scores``
  computes ``s_F(u)(i)`` for any shrinkage ``m``, so one fit serves a grid of ``m``.
  """

  def __init__(self, like_threshold: float = 4.0):
    self.like_threshold = like_threshold

  def fit(self, user, item, y, train_users: np.ndarray, profiles: np.ndarray,
          num_items: int) -> Self:
    """Keeps ``liked [T, I]`` (``1[r_vi >= like_threshold]``, a repeated row
    counts once) and ``profiles[train_users] [T, F]``.

    Args:
      user, item, y: the training rows ``int[N]``, ``int[N]``, ``float[N]``.
      train_users: ``int[T]`` the training users (``n_0 = T``, users without a
        liked item included).
      profiles: ``int[U, F]`` every user's profile, indexed by user id.
      num_items: ``I``.

    Raises:
      ValueError: a row's user is not a training user (the row is named), or
        an id is out of range.
    """
    user, item, train_users = np.asarray(user), np.asarray(item), np.asarray(train_users)
    position = np.full(len(profiles), -1)
    position[train_users] = np.arange(len(train_users))
    outside = np.flatnonzero(position[user] < 0)
    if len(outside):
      raise ValueError(f"training row {outside[0]}: user {user[outside[0]]} is not a "
                       "training user; only training rows may enter the profile means")
    if len(item) and not 0 <= item.min() <= item.max() < num_items:
      raise ValueError(f"item ids must lie in [0, {num_items}), got {item.min()}.."
                       f"{item.max()}")
    liked = np.asarray(y) >= self.like_threshold
    self.liked = sparse.csr_array(
        (np.ones(int(liked.sum())), (position[user[liked]], item[liked])),
        shape=(len(train_users), num_items))
    self.liked.data[:] = 1.0  # repeated rows count once
    self.profiles = np.asarray(profiles)[train_users]
    return self

  def scores(self, query_profiles: np.ndarray, shrinkage: float) -> np.ndarray:
    """``float64[B, I]``: ``s_F(u)(i)`` for the query profiles ``int[B, F]`` at ``m =
    shrinkage``. Raises ValueError as :func:`backoff_means`."""
    return backoff_means(self.liked, self.profiles, query_profiles, shrinkage)
