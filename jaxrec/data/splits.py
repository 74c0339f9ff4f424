"""Cold-start splits of users and items, training masks and feature tables.

A :class:`ColdStartSplit` partitions the users and the items of an
:class:`~jaxrec.data.interactions.Interactions` into train / val / test groups
and holds out, for every train user, a few ratings on train items (the query
ratings of the ``warm`` state). Meta-training only ever sees
``training_mask(interactions, split)``: ratings of train users on train items
minus that warm hold-out; every statistic (item means, popularity, id
vocabularies) is computed from those ratings only.

The row masks (``bool[N]`` over the interactions) live here, for episodes,
baselines and training alike: `user_rows`, `item_rows` (built on `member_mask`),
`holdout_mask` and `training_mask`; `rank_within_user` ranks entries per user.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from jaxrec.data import tags
from jaxrec.data.interactions import Interactions

GROUPS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True, eq=False)
class ColdStartSplit:
  """A joint split of users and items into train / val / test groups.

  Attributes:
    train_users, val_users, test_users: ``int32[*]`` sorted internal user ids.
      Users outside the rating-count filter are in none of them.
    train_items, val_items, test_items: ``int32[*]`` sorted internal item ids.
    warm_holdout: ``int64[H]`` sorted indices of interactions (train user x
      train item) held out of training: the query ratings of the ``warm`` state.
    excluded_users: ``int32[*]`` sorted users removed by the rating-count filter.
    seed: the seed of the random choices (partition and/or hold-out).
    params: the arguments the split was made with, e.g.
      ``{"method": "random", "min_ratings": 13, ...}``.
  """

  train_users: np.ndarray
  val_users: np.ndarray
  test_users: np.ndarray
  train_items: np.ndarray
  val_items: np.ndarray
  test_items: np.ndarray
  warm_holdout: np.ndarray
  excluded_users: np.ndarray
  seed: int
  params: dict[str, Any]

  def users(self, group: str) -> np.ndarray:
    """The sorted ``int32`` user ids of ``group``; ValueError for an unknown group."""
    return getattr(self, f"{_check_group(group)}_users")

  def items(self, group: str) -> np.ndarray:
    """The sorted ``int32`` item ids of ``group``; ValueError for an unknown group."""
    return getattr(self, f"{_check_group(group)}_items")

  def sizes(self) -> dict[str, int]:
    """Number of users and items in each group, e.g. ``{"train_users": 754, ...}``."""
    return {f"{g}_{kind}": len(getattr(self, f"{g}_{kind}"))
            for kind in ("users", "items") for g in GROUPS}


def _check_group(group: str) -> str:
  if group not in GROUPS:
    raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
  return group


def member_mask(ids: np.ndarray, size: int) -> np.ndarray:
  """``bool[size]``: ``mask[j] = j in ids`` (``ids``: ``int[n]`` in ``[0, size)``).

  Raises:
    IndexError: an id is outside ``[-size, size)`` (numpy indexing).
  """
  mask = np.zeros(size, bool)
  mask[ids] = True
  return mask


def user_rows(interactions: Interactions, users: np.ndarray) -> np.ndarray:
  """``bool[N]``: ``rows[n] = user[n] in users`` (``users``: ``int[n]`` internal ids)."""
  return member_mask(users, interactions.num_users)[interactions.user]


def item_rows(interactions: Interactions, items: np.ndarray) -> np.ndarray:
  """``bool[N]``: ``rows[n] = item[n] in items`` (``items``: ``int[n]`` internal ids)."""
  return member_mask(items, interactions.num_items)[interactions.item]


def _eligible_users(interactions: Interactions, min_ratings: int,
                    max_ratings: int) -> np.ndarray:
  """``bool[U]``: users with ``min_ratings <= #ratings <= max_ratings``.

  Raises:
    ValueError: when the bounds are inconsistent or no user passes the filter.
  """
  if min_ratings < 0 or max_ratings < min_ratings:
    raise ValueError(f"rating-count filter [{min_ratings}, {max_ratings}] is empty "
                     "or negative")
  counts = np.bincount(interactions.user, minlength=interactions.num_users)
  eligible = (counts >= min_ratings) & (counts <= max_ratings)
  if not eligible.any():
    raise ValueError(
        f"{interactions.name}: no user has between {min_ratings} and {max_ratings} "
        f"ratings (users have {counts.min()}..{counts.max()} ratings)")
  return eligible


def _partition(ids: np.ndarray, fractions: Sequence[float],
               rng: np.random.Generator, kind: str) -> list[np.ndarray]:
  """Randomly partitions ``ids`` into train / val / test by ``fractions``.

  Group sizes are ``round(n * f_train / sum f)``, ``round(n * f_val / sum f)`` and
  the rest. Returns three sorted ``int32`` arrays.

  Raises:
    ValueError: for malformed fractions or when a group would be empty.
  """
  fractions = np.asarray(fractions, float)
  if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
    raise ValueError(f"{kind}_fractions must be three non-negative numbers with a "
                     f"positive sum, got {fractions.tolist()}")
  n = len(ids)
  n_train, n_val = np.round(n * fractions[:2] / fractions.sum()).astype(int)
  n_val = min(n_val, n - n_train)
  bounds = [0, n_train, n_train + n_val, n]
  perm = rng.permutation(ids)
  groups = [np.sort(perm[a:b]).astype(np.int32) for a, b in zip(bounds, bounds[1:])]
  _check_nonempty(f"{kind}s", groups)
  return groups


def _check_nonempty(kind: str, groups: Sequence[np.ndarray]) -> None:
  sizes = {g: len(ids) for g, ids in zip(GROUPS, groups)}
  for g, size in sizes.items():
    if size == 0:
      raise ValueError(f"the {g} {kind} partition is empty "
                       f"({kind} group sizes: {sizes})")


def rank_within_user(users: np.ndarray, keys: np.ndarray) -> np.ndarray:
  """``int64[n]``: rank (from 0) of each entry among the entries of its user, by ``keys``.

  ``rank[j] = #{i : users[i] = users[j] and (keys[i], i) < (keys[j], j)}``: ties
  in ``keys`` are broken by position. ``users`` is any ``int[n]`` grouping (a
  user, an episode, ...), ``keys`` any sortable ``[n]``.
  """
  order = np.lexsort((keys, users))
  sorted_users = users[order]
  starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
  group_start = np.repeat(starts, np.diff(np.r_[starts, len(users)]))
  ranks = np.empty(len(users), np.int64)
  ranks[order] = np.arange(len(users)) - group_start
  return ranks


def _warm_holdout(interactions: Interactions, train_users: np.ndarray,
                  train_items: np.ndarray, query_size: int,
                  rng: np.random.Generator) -> np.ndarray:
  """Indices of ``min(query_size, n_u - 1)`` random train-item ratings per train user.

  ``n_u`` is the user's number of ratings on train items, so at least one
  training rating is left to every user who has any.
  """
  if query_size < 1:
    raise ValueError(f"query_size must be >= 1, got {query_size}")
  candidates = np.flatnonzero(user_rows(interactions, train_users)
                              & item_rows(interactions, train_items))
  users = interactions.user[candidates]
  counts = np.bincount(users, minlength=interactions.num_users)
  ranks = rank_within_user(users, rng.random(len(candidates)))
  keep = ranks < np.minimum(query_size, counts[users] - 1)
  return candidates[keep].astype(np.int64)


def random_split(interactions: Interactions, *,
                 user_fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 item_fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 seed: int = 0, min_ratings: int = 13, max_ratings: int = 100,
                 query_size: int = 10) -> ColdStartSplit:
  """A seeded random joint split of users and items (the MeLU / MAMO protocol).

  Users with fewer than ``min_ratings`` or more than ``max_ratings`` ratings
  (counted over all their ratings) are excluded from every user group; the
  remaining users and all items are shuffled and cut by the fractions (the val
  and train sizes are rounded, test takes the rest). For each train user, the
  warm hold-out gets ``min(query_size, n_u - 1)`` random ratings out of the
  user's ``n_u`` ratings on train items.

  Args:
    interactions: the dataset.
    user_fractions: relative sizes of the train / val / test user groups.
    item_fractions: relative sizes of the train / val / test item groups.
    seed: seed of ``numpy.random.default_rng``; the split is a function of it.
    min_ratings, max_ratings: inclusive bounds of the rating-count filter.
    query_size: warm hold-out ratings per train user.

  Returns:
    The :class:`ColdStartSplit`.

  Raises:
    ValueError: when no user passes the filter, a fraction triple is malformed,
      or any user/item partition would be empty (the message names it and gives
      the group sizes).
  """
  eligible = _eligible_users(interactions, min_ratings, max_ratings)
  rng = np.random.default_rng(seed)
  users = _partition(np.flatnonzero(eligible), user_fractions, rng, "user")
  items = _partition(np.arange(interactions.num_items), item_fractions, rng, "item")
  holdout = _warm_holdout(interactions, users[0], items[0], query_size, rng)
  return ColdStartSplit(
      *users, *items, warm_holdout=holdout,
      excluded_users=np.flatnonzero(~eligible).astype(np.int32), seed=seed,
      params=dict(method="random", user_fractions=tuple(user_fractions),
                  item_fractions=tuple(item_fractions), min_ratings=min_ratings,
                  max_ratings=max_ratings, query_size=query_size))


def _first_seen(ids: np.ndarray, timestamps: np.ndarray, size: int) -> np.ndarray:
  """``int64[size]``: earliest timestamp per id (int64 max for ids never seen)."""
  first = np.full(size, np.iinfo(np.int64).max, np.int64)
  np.minimum.at(first, ids, timestamps.astype(np.int64))
  return first


def _split_by_time(ids: np.ndarray, first_seen: np.ndarray, cutoff: int,
                   val_fraction: float, kind: str) -> list[np.ndarray]:
  """Train = first seen at or before ``cutoff``; the later ones are cut, in
  order of first appearance, into val (the earliest ``val_fraction``) and test."""
  new = ids[first_seen[ids] > cutoff]
  new = new[np.lexsort((new, first_seen[new]))]
  n_val = int(round(val_fraction * len(new)))
  groups = [ids[first_seen[ids] <= cutoff], new[:n_val], new[n_val:]]
  groups = [np.sort(g).astype(np.int32) for g in groups]
  _check_nonempty(f"{kind}s", groups)
  return groups


def time_split(interactions: Interactions, *, user_cutoff: int, item_cutoff: int,
               val_fraction: float = 0.5, seed: int = 0, min_ratings: int = 13,
               max_ratings: int = 100, query_size: int = 10) -> ColdStartSplit:
  """A time-based split (MeLU's states): users/items first seen after a cutoff are new.

  Users (after the same rating-count filter as :func:`random_split`) whose first
  rating is at or before ``user_cutoff`` are train users; the others, sorted by
  first rating time, are split into val (the earliest ``val_fraction``) and test.
  Items are split the same way by their first rating and ``item_cutoff`` (items
  never rated count as new). The warm hold-out is drawn as in
  :func:`random_split` with ``seed``.

  Args:
    interactions: the dataset; must have timestamps.
    user_cutoff, item_cutoff: Unix-second cutoffs.
    val_fraction: share of the new users/items that go to val, in ``[0, 1]``.
    seed, min_ratings, max_ratings, query_size: as in :func:`random_split`.

  Returns:
    The :class:`ColdStartSplit`.

  Raises:
    ValueError: when the interactions have no timestamps, ``val_fraction`` is
      outside ``[0, 1]``, no user passes the filter, or a partition is empty.
  """
  if interactions.timestamp is None:
    raise ValueError(f"{interactions.name}: time_split needs timestamps, but "
                     "'timestamp' is None (use random_split)")
  if not 0.0 <= val_fraction <= 1.0:
    raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
  eligible = _eligible_users(interactions, min_ratings, max_ratings)
  users = _split_by_time(
      np.flatnonzero(eligible),
      _first_seen(interactions.user, interactions.timestamp, interactions.num_users),
      user_cutoff, val_fraction, "user")
  items = _split_by_time(
      np.arange(interactions.num_items),
      _first_seen(interactions.item, interactions.timestamp, interactions.num_items),
      item_cutoff, val_fraction, "item")
  holdout = _warm_holdout(interactions, users[0], items[0], query_size,
                          np.random.default_rng(seed))
  return ColdStartSplit(
      *users, *items, warm_holdout=holdout,
      excluded_users=np.flatnonzero(~eligible).astype(np.int32), seed=seed,
      params=dict(method="time", user_cutoff=user_cutoff, item_cutoff=item_cutoff,
                  val_fraction=val_fraction, min_ratings=min_ratings,
                  max_ratings=max_ratings, query_size=query_size))


def holdout_mask(interactions: Interactions, split: ColdStartSplit) -> np.ndarray:
  """``bool[N]``: true for the interactions in the warm hold-out."""
  return member_mask(split.warm_holdout, interactions.num_interactions)


def training_mask(interactions: Interactions, split: ColdStartSplit) -> np.ndarray:
  """``bool[N]``: the interactions meta-training may use.

  ``train_mask[n] = user[n] in train_users and item[n] in train_items and
  n not in warm_holdout``. Every training statistic must come from these.
  """
  return (user_rows(interactions, split.train_users)
          & item_rows(interactions, split.train_items) & ~holdout_mask(interactions, split))


def training_rows(interactions: Interactions, split: ColdStartSplit) -> tuple:
  """``(user, item, rating, num_users, num_items)`` of the :func:`training_mask`
  rows: the arguments every baseline's ``fit`` takes."""
  rows = training_mask(interactions, split)
  return (interactions.user[rows], interactions.item[rows], interactions.rating[rows],
          interactions.num_users, interactions.num_items)


def _id_field(ids: np.ndarray, size: int) -> np.ndarray:
  """``int32[size]``: ``1 + rank`` of each id in the sorted ``ids``, 0 elsewhere."""
  field = np.zeros(size, np.int32)
  field[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
  return field


FeatureTable = dict[str, np.ndarray]


def friends_field(interactions: Interactions, split: ColdStartSplit
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Every user's training friends as a multi-hot field over the ``user_id`` codes.

  ``friends[u, :n_u]`` are the ``user_id`` codes (``1 +`` rank among the training
  users) of ``u``'s friends who are training users with a training row (the
  friends serving counts, :func:`jaxrec.serving.signals.check_friends`); the rest
  is padding (id 0, mask 0). Held-out friends are left out, so nothing propagates
  through a held-out user; every user (held-out ones too) gets their row.

  Returns:
    ``(friends int32[U, m], friends_mask float32[U, m])`` with ``m = max(1, max_u n_u)``.

  Raises:
    ValueError: the dataset has no friend graph.
  """
  if interactions.friend_offsets is None:
    raise ValueError(f"{interactions.name}: config.data.friends needs a friend graph "
                     "(e.g. Last.fm's user_friends.dat); this dataset has none")
  codes = _id_field(split.train_users, interactions.num_users)
  rows = training_mask(interactions, split)
  codes[np.bincount(interactions.user[rows], minlength=interactions.num_users) == 0] = 0
  offsets, ids = interactions.friend_offsets, interactions.friend_ids
  owner = np.repeat(np.arange(interactions.num_users), np.diff(offsets))
  keep = codes[ids] > 0
  owner, friend = owner[keep], codes[ids[keep]]
  counts = np.bincount(owner, minlength=interactions.num_users)
  width = max(1, int(counts.max(initial=0)))
  slot = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
  table = np.zeros((interactions.num_users, width), np.int32)
  mask = np.zeros((interactions.num_users, width), np.float32)
  table[owner, slot], mask[owner, slot] = friend, 1.0
  return table, mask


def build_tables(interactions: Interactions, split: ColdStartSplit, *,
                 friends: bool = False
                 ) -> tuple[FeatureTable, FeatureTable, dict[str, int]]:
  """Feature tables and vocabulary sizes for models.

  When the dataset has raw tag assignments (``interactions.item_tags``), the
  tag field comes from the training users' assignments only
  (:func:`jaxrec.data.tags.with_item_tags` with ``split.train_users``).
  ``user_table`` (``[U]``-indexed) holds copies of the user feature arrays plus
  ``"user_id" = 1 + rank of the user among train users`` (0 for val/test and
  excluded users); ``item_table`` (``[I]``-indexed) the item features plus
  ``"item_id"`` built the same way from the train items. ``vocab_sizes`` merges
  both vocabularies with ``user_id: #train_users + 1`` and
  ``item_id: #train_items + 1``. With ``friends``, ``user_table`` also holds the
  multi-hot ``"friends"`` field of :func:`friends_field` (vocabulary
  ``#train_users + 1``, the ``user_id`` codes).

  Returns:
    ``(user_table, item_table, vocab_sizes)``.

  Raises:
    ValueError: when a field name occurs in both tables, a feature is already
      named ``"user_id"`` / ``"item_id"`` (or ``"friends"`` with ``friends``), or
      ``friends`` for a dataset without a friend graph.
  """
  interactions = tags.with_item_tags(interactions, split.train_users)
  user_table = {k: np.array(v) for k, v in interactions.user_features.items()}
  item_table = {k: np.array(v) for k, v in interactions.item_features.items()}
  for key in ("user_id", "item_id") + (("friends", "friends_mask") if friends else ()):
    if key in user_table or key in item_table:
      raise ValueError(f"{interactions.name}: feature field '{key}' is reserved for "
                       "a field built from the split")
  clash = sorted(set(user_table) & set(item_table))
  if clash:
    raise ValueError(f"{interactions.name}: field names {clash} occur both as user "
                     "and as item features")
  user_table["user_id"] = _id_field(split.train_users, interactions.num_users)
  item_table["item_id"] = _id_field(split.train_items, interactions.num_items)
  vocab_sizes = {**interactions.user_vocab_sizes, **interactions.item_vocab_sizes,
                 "user_id": len(split.train_users) + 1,
                 "item_id": len(split.train_items) + 1}
  if friends:
    user_table["friends"], user_table["friends_mask"] = friends_field(interactions, split)
    vocab_sizes["friends"] = len(split.train_users) + 1
  return user_table, item_table, vocab_sizes

