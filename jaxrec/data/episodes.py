"""User episodes (support / query ratings) per cold-start state.

An :class:`Episodes` holds one ragged (CSR-style) set of tasks: episode ``e`` is
user ``user[e]`` with support ratings
``support_item[support_offsets[e]:support_offsets[e + 1]]`` (and ``support_y``)
and query ratings sliced the same way. :func:`make_episodes` builds the
evaluation episodes of a cold-start state from the row masks of
:mod:`jaxrec.data.splits`, :func:`training_episodes` the meta-training ones, and
:mod:`jaxrec.data.batching` pads them into the fixed-shape batches of the
contract (docs/architecture.md). (A little over 400 lines: the container and the
construction of its states share the CSR helpers; a split would export them.)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from jaxrec.data.interactions import Interactions
from jaxrec.data.splits import (ColdStartSplit, holdout_mask, item_rows, member_mask,
                                rank_within_user, training_mask, user_rows)

STATES = ("warm", "new_users", "new_items", "new_users_new_items")
PARTS = ("support", "query")


@dataclasses.dataclass(frozen=True, eq=False)
class Episodes:
  """A ragged set of user episodes of one state.

  Attributes:
    state: one of :data:`STATES`, or ``"train"`` for meta-training episodes.
    group: the user/item group the episodes come from (``"train"``, ``"val"``,
      ``"test"``).
    user: ``int32[E]`` internal user id of each episode.
    support_item, support_y: ``int32[Ns]`` / ``float32[Ns]`` support ratings,
      episode by episode (for implicit data ``y`` is 1 for positives, 0 for
      sampled negatives; the positives of an episode come first).
    support_offsets: ``int64[E + 1]``; episode ``e`` owns entries
      ``support_offsets[e]:support_offsets[e + 1]``.
    query_item, query_y, query_offsets: the same for the query ratings.
    num_dropped: users of the state's group that have no episode (too few
      support ratings, no query rating, or removed by :func:`truncate_support`).
    negatives: sampled negatives per positive (0 for explicit data).
  """

  state: str
  group: str
  user: np.ndarray
  support_item: np.ndarray
  support_y: np.ndarray
  support_offsets: np.ndarray
  query_item: np.ndarray
  query_y: np.ndarray
  query_offsets: np.ndarray
  num_dropped: int = 0
  negatives: int = 0

  def __len__(self) -> int:
    return len(self.user)

  @property
  def support_sizes(self) -> np.ndarray:
    """``int64[E]``: number of support entries of each episode."""
    return np.diff(self.support_offsets)

  @property
  def query_sizes(self) -> np.ndarray:
    """``int64[E]``: number of query entries of each episode."""
    return np.diff(self.query_offsets)

  @property
  def support_negative(self) -> np.ndarray:
    """``bool[Ns]``: which support entries are sampled negatives (``y == 0`` when
    ``negatives > 0``; none for explicit data, where ``y`` is a rating)."""
    if self.negatives:
      return self.support_y == 0
    return np.zeros(len(self.support_y), bool)

  @property
  def support_positives(self) -> np.ndarray:
    """``int64[E]``: support positives of each episode, the entries that are not
    sampled negatives (every entry for explicit data): what ``k`` counts in
    :func:`truncate_support`."""
    entry_episode = np.repeat(np.arange(len(self)), self.support_sizes)
    return np.bincount(entry_episode[~self.support_negative], minlength=len(self))

  def part(self, name: str, e: int) -> tuple[np.ndarray, np.ndarray]:
    """``(item int32[n], y float32[n])`` of episode ``e``'s part ``name``.

    Raises:
      ValueError: when ``name`` is not ``"support"`` or ``"query"``.
    """
    items, ys, offsets = _part_arrays(self, name)
    return items[offsets[e]:offsets[e + 1]], ys[offsets[e]:offsets[e + 1]]

  def gather(self, name: str, indices: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Part ``name`` of the episodes at ``indices`` (``int[K]``), concatenated.

    Returns:
      ``(item int32[M], y float32[M], offsets int64[K + 1])``: entries
      ``offsets[k]:offsets[k + 1]`` are those of episode ``indices[k]``.

    Raises:
      ValueError: when ``name`` is not ``"support"`` or ``"query"``.
    """
    items, ys, offsets = _part_arrays(self, name)
    pos, new_offsets = _segment_positions(offsets, np.asarray(indices, np.int64))
    return items[pos], ys[pos], new_offsets

  def select(self, indices: np.ndarray) -> "Episodes":
    """The episodes at ``indices`` (``int[K]``), in that order; same ``num_dropped``."""
    indices = np.asarray(indices, np.int64)
    fields = {"user": self.user[indices]}
    for name in PARTS:
      items, ys, offsets = self.gather(name, indices)
      fields.update({f"{name}_item": items, f"{name}_y": ys, f"{name}_offsets": offsets})
    return dataclasses.replace(self, **fields)


def _part_arrays(episodes: Episodes, name: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  if name not in PARTS:
    raise ValueError(f"unknown episode part {name!r}; expected one of {PARTS}")
  return (getattr(episodes, f"{name}_item"), getattr(episodes, f"{name}_y"),
          getattr(episodes, f"{name}_offsets"))


def _segment_positions(offsets: np.ndarray, indices: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
  """Flat positions of the segments ``indices`` of a CSR array, and their offsets.

  Returns ``(pos int64[M], new_offsets int64[K + 1])`` such that
  ``values[pos][new_offsets[k]:new_offsets[k + 1]]`` is segment ``indices[k]``.
  """
  sizes = np.diff(offsets)[indices]
  new_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
  shift = np.repeat(offsets[:-1][indices] - new_offsets[:-1], sizes)
  return np.arange(new_offsets[-1], dtype=np.int64) + shift, new_offsets


def _offsets(entry_episode: np.ndarray, num_episodes: int) -> np.ndarray:
  """``int64[E + 1]`` offsets of entries sorted by their episode index."""
  counts = np.bincount(entry_episode, minlength=num_episodes)
  return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _items_by_user(interactions: Interactions, rows: np.ndarray) -> list[np.ndarray]:
  """``[U]`` the items of each user among the interactions ``rows``."""
  users = interactions.user[rows]
  items = interactions.item[rows][np.argsort(users, kind="stable")]
  bounds = _offsets(users, interactions.num_users)
  return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _sample_negatives(users: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                      pools: Sequence[np.ndarray], known: list[np.ndarray],
                      negatives: int, rng: np.random.Generator
                      ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Appends ``negatives`` sampled items (y = 0) per positive to every episode part.

  For episode ``e`` of user ``u`` and part ``p`` with ``n`` positives,
  ``min(negatives * n, #candidates)`` distinct items are drawn from
  ``pools[p] - known[u] - (negatives already drawn for e)``, so a negative is
  never one of the user's known items nor repeated across support and query.

  Args:
    users: ``int32[E]`` episode users.
    parts: per part, ``(items int32[M], offsets int64[E + 1])`` of the positives.
    pools: per part, ``bool[I]``: the candidate items.
    known: ``[U]`` items each user is known to have interacted with.
    negatives: negatives per positive.
    rng: the generator.

  Returns:
    Per part, ``(items, y, offsets)`` with each episode's positives then negatives.
  """
  chunks = [([], []) for _ in parts]
  for e, u in enumerate(users):
    free = np.ones(len(pools[0]), bool)
    free[known[u]] = False
    for (items, offsets), pool, (item_chunks, y_chunks) in zip(parts, pools, chunks):
      positives = items[offsets[e]:offsets[e + 1]]
      candidates = np.flatnonzero(pool & free)
      drawn = rng.choice(candidates, min(negatives * len(positives), len(candidates)),
                         replace=False)
      free[drawn] = False
      item_chunks.append(np.concatenate([positives, drawn]).astype(np.int32))
      y_chunks.append(np.r_[np.ones(len(positives)), np.zeros(len(drawn))])
  return [(np.concatenate(item_chunks).astype(np.int32),
           np.concatenate(y_chunks).astype(np.float32),
           np.concatenate([[0], np.cumsum([len(c) for c in item_chunks])]
                          ).astype(np.int64))
          for item_chunks, y_chunks in chunks]


def _assemble(interactions: Interactions, state: str, group: str,
              candidates: np.ndarray, support: np.ndarray, query: np.ndarray, *,
              min_support: int, negatives: int, pools: Sequence[np.ndarray],
              known_rows: np.ndarray, rng: np.random.Generator) -> Episodes:
  """Builds the episodes of the ``candidates`` users from two ``bool[N]`` row masks.

  A candidate user gets an episode when they have at least ``min_support``
  support rows and one query row; the others are counted in ``num_dropped``.
  Positives are ordered by interaction index; for implicit data ``y = 1`` and
  negatives are sampled (see :func:`_sample_negatives`) avoiding the items of
  ``known_rows``.

  Raises:
    ValueError: when no candidate user is left.
  """
  is_candidate = user_rows(interactions, candidates)
  support = support & is_candidate
  query = query & is_candidate
  n_support = np.bincount(interactions.user[support], minlength=interactions.num_users)
  n_query = np.bincount(interactions.user[query], minlength=interactions.num_users)
  keep = candidates[(n_support[candidates] >= min_support) & (n_query[candidates] >= 1)]
  if len(keep) == 0:
    raise ValueError(
        f"{interactions.name}: state '{state}' ({group} group) has no episode: none "
        f"of its {len(candidates)} users has >= {min_support} support and >= 1 query "
        "ratings")
  episode_of = np.full(interactions.num_users, -1, np.int64)
  episode_of[keep] = np.arange(len(keep))
  parts = []
  for rows in (support, query):
    rows = np.flatnonzero(rows & (episode_of[interactions.user] >= 0))
    rows = rows[np.argsort(episode_of[interactions.user[rows]], kind="stable")]
    y = (np.ones(len(rows), np.float32) if interactions.implicit
         else interactions.rating[rows].astype(np.float32))
    parts.append((interactions.item[rows].astype(np.int32), y,
                  _offsets(episode_of[interactions.user[rows]], len(keep))))
  if negatives:
    pool_masks = [member_mask(pool, interactions.num_items) for pool in pools]
    parts = _sample_negatives(keep, [(items, off) for items, _, off in parts],
                              pool_masks, _items_by_user(interactions, known_rows),
                              negatives, rng)
  (s_item, s_y, s_off), (q_item, q_y, q_off) = parts
  return Episodes(state, group, keep.astype(np.int32), s_item, s_y, s_off,
                  q_item, q_y, q_off, num_dropped=len(candidates) - len(keep),
                  negatives=negatives)


def _pick_per_user(interactions: Interactions, rows: np.ndarray, counts: np.ndarray,
                   keys: np.ndarray) -> np.ndarray:
  """``bool[N]``: for each user, their ``counts[u]`` rows of the mask ``rows`` with
  the smallest ``keys`` (``float[N]``; ties broken by interaction index)."""
  idx = np.flatnonzero(rows)
  users = interactions.user[idx]
  picked = np.zeros(interactions.num_interactions, bool)
  picked[idx[rank_within_user(users, keys[idx]) < counts[users]]] = True
  return picked


def _query_keys(interactions: Interactions, query_by: str,
                rng: np.random.Generator) -> np.ndarray:
  """``float[N]`` sort keys: random, or ``-timestamp`` (latest ratings first)."""
  if query_by == "random":
    return rng.random(interactions.num_interactions)
  if query_by == "time":
    if interactions.timestamp is None:
      raise ValueError(f"{interactions.name}: query_by='time' needs timestamps, but "
                       "'timestamp' is None")
    return -interactions.timestamp.astype(np.float64)
  raise ValueError(f"query_by must be 'random' or 'time', got {query_by!r}")


def _split_rows(interactions: Interactions, rows: np.ndarray, query_size: int,
                min_support: int, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Partitions each user's ``rows`` into ``(support, query)`` ``bool[N]`` masks.

  The query gets ``min(query_size, n_u - min_support)`` rows (by ``keys``) of a
  user with ``n_u`` rows; the support the rest.
  """
  counts = np.bincount(interactions.user[rows], minlength=interactions.num_users)
  query = _pick_per_user(interactions, rows,
                         np.clip(counts - min_support, 0, query_size), keys)
  return rows & ~query, query


def _check_episode_args(interactions: Interactions, query_size: int, min_support: int,
                        negatives: int) -> None:
  if query_size < 1 or min_support < 1:
    raise ValueError(f"query_size and min_support must be >= 1, got {query_size} and "
                     f"{min_support}")
  if negatives < 0:
    raise ValueError(f"negatives must be >= 0, got {negatives}")
  if negatives and not interactions.implicit:
    raise ValueError(f"{interactions.name}: negatives={negatives} needs implicit "
                     "feedback; the ratings are explicit")


def make_episodes(interactions: Interactions, split: ColdStartSplit, state: str, *,
                  group: str = "test", query_size: int = 10, min_support: int = 1,
                  query_by: str = "random", negatives: int = 0,
                  seed: int = 0) -> Episodes:
  """The evaluation episodes of one cold-start state (docs/architecture.md).

  With ``G`` the users/items of ``group``:

  * ``warm``: train users; support = their training ratings
    (``training_mask``), query = exactly their warm hold-out. ``group`` is
    ignored (the episodes' group is ``"train"``).
  * ``new_users``: users of ``G``; their ratings on train items are split into
    query = ``min(query_size, n_u - min_support)`` ratings (random, or the latest
    with ``query_by="time"``) and support = the rest. With ``group="train"``
    the ratings are the training ratings.
  * ``new_items``: train users; support = their training ratings, query = up to
    ``query_size`` of their ratings on the items of ``G``.
  * ``new_users_new_items``: users of ``G``; support = all their ratings on
    train items, query = up to ``query_size`` of their ratings on items of ``G``.

  Users with fewer than ``min_support`` support or no query ratings are dropped
  (counted in ``num_dropped``). For implicit data ``y = 1`` and ``negatives``
  items per positive are sampled from the part's item pool (train items for the
  support; train items, or the items of ``G`` for the new-item states, for the
  query) among the items the user never interacted with. Deterministic in
  ``seed``.

  Returns:
    The :class:`Episodes`.

  Raises:
    ValueError: for an unknown state, group or ``query_by``; ``group="train"``
      with a new-item state; ``query_by="time"`` without timestamps; negatives
      on explicit data; or when no user has an episode.
  """
  if state not in STATES:
    raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
  _check_episode_args(interactions, query_size, min_support, negatives)
  new_users = state in ("new_users", "new_users_new_items")
  new_items = state in ("new_items", "new_users_new_items")
  if state == "warm":
    group = "train"
  elif new_items and group == "train":
    raise ValueError(f"state '{state}' queries held-out items; group must be 'val' "
                     "or 'test', got 'train'")
  users = split.users(group) if new_users else split.train_users
  rng = np.random.default_rng(seed)
  keys = _query_keys(interactions, query_by, rng)
  on_train_items = item_rows(interactions, split.train_items)
  train_rows = training_mask(interactions, split)
  rows = on_train_items if new_users and group != "train" else train_rows
  query_pool = split.train_items
  if state == "warm":
    support, query = rows, holdout_mask(interactions, split)
  elif state == "new_users":
    support, query = _split_rows(interactions, rows, query_size, min_support, keys)
  else:
    query_pool = split.items(group)
    on_group_items = item_rows(interactions, query_pool)
    counts = np.full(interactions.num_users, query_size)
    support, query = rows, _pick_per_user(interactions, on_group_items, counts, keys)
  return _assemble(interactions, state, group, users, support, query,
                   min_support=min_support, negatives=negatives,
                   pools=(split.train_items, query_pool),
                   known_rows=np.arange(interactions.num_interactions), rng=rng)


def training_episodes(interactions: Interactions, split: ColdStartSplit, *, epoch: int,
                      seed: int, query_size: int = 10, negatives: int = 0) -> Episodes:
  """The meta-training episodes of one epoch.

  Each train user's training ratings (``training_mask``) are freshly and
  randomly split into query = ``min(query_size, n_u - 1)`` ratings and
  support = the rest, seeded by ``(seed, epoch)``, so an epoch is reproducible
  (resume with :func:`jaxrec.data.batching.batch_iterator`'s ``start``). Users
  with fewer than two training ratings are dropped. For implicit data,
  ``negatives`` per positive are sampled from the train items the user has no
  *training* interaction with.

  Returns:
    :class:`Episodes` with ``state = group = "train"``.

  Raises:
    ValueError: for ``query_size < 1``, negatives on explicit data, or when no
      train user has two training ratings.
  """
  _check_episode_args(interactions, query_size, 1, negatives)
  rng = np.random.default_rng([seed, epoch])
  train_rows = training_mask(interactions, split)
  support, query = _split_rows(interactions, train_rows, query_size, 1,
                               rng.random(interactions.num_interactions))
  return _assemble(interactions, "train", "train", split.train_users, support, query,
                   min_support=1, negatives=negatives,
                   pools=(split.train_items, split.train_items),
                   known_rows=np.flatnonzero(train_rows), rng=rng)


def truncate_support(episodes: Episodes, k: int, *, seed: int) -> Episodes:
  """k-shot episodes: each support set cut to ``k`` random positives.

  Sampled negatives (implicit data) are cut to ``k * episodes.negatives``
  random ones. Episodes with fewer than ``k`` support positives are dropped and
  added to ``num_dropped``; the query sets are unchanged. Entry order within an
  episode is kept. Deterministic in ``seed``.

  Raises:
    ValueError: for ``k < 1`` or when every episode has fewer than ``k`` positives.
  """
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}")
  positives = episodes.support_positives
  keep = np.flatnonzero(positives >= k)
  if len(keep) == 0:
    raise ValueError(f"truncate_support: no episode of state '{episodes.state}' "
                     f"({episodes.group}) has >= {k} support positives (max "
                     f"{positives.max(initial=0)})")
  cut = _cut_support(episodes, np.full(len(episodes), k), np.random.default_rng(seed))
  return dataclasses.replace(
      cut, num_dropped=episodes.num_dropped + len(episodes) - len(keep)).select(keep)


def subsample_support(episodes: Episodes, sizes: Sequence[int], *, seed: Any
                      ) -> Episodes:
  """Each episode's support cut to a size drawn from ``sizes``: k-shot training.

  Episode ``e`` draws ``k_e`` uniformly from ``sizes`` and keeps
  ``min(k_e, #positives)`` random support positives (and ``k_e *
  episodes.negatives`` random sampled negatives); ``k_e = 0`` leaves an empty
  support (the model's prior alone). Every episode is kept, the query sets are
  unchanged and entry order within an episode is kept. Deterministic in ``seed``.

  Raises:
    ValueError: ``sizes`` empty or holding a negative size.
  """
  sizes = np.asarray(sizes, np.int64)
  if sizes.size == 0 or (sizes < 0).any():
    raise ValueError(f"support sizes must be a non-empty list of sizes >= 0, got "
                     f"{sizes.tolist()}")
  rng = np.random.default_rng(seed)
  return _cut_support(episodes, rng.choice(sizes, len(episodes)), rng)


def _cut_support(episodes: Episodes, k: np.ndarray, rng: np.random.Generator) -> Episodes:
  """Episode ``e``'s support cut to ``k[e]`` random positives and ``k[e] *
  episodes.negatives`` random sampled negatives (all of them where there are
  fewer), entry order kept; every episode is kept."""
  entry_episode = np.repeat(np.arange(len(episodes)), episodes.support_sizes)
  negative = episodes.support_negative
  ranks = rank_within_user(2 * entry_episode + negative, rng.random(len(entry_episode)))
  kept = np.flatnonzero(ranks < k[entry_episode] * np.where(negative, episodes.negatives, 1))
  return dataclasses.replace(
      episodes, support_item=episodes.support_item[kept],
      support_y=episodes.support_y[kept],
      support_offsets=_offsets(entry_episode[kept], len(episodes)))


def _size_stats(prefix: str, sizes: np.ndarray) -> dict[str, float]:
  if sizes.size == 0:
    return {f"{prefix}_{s}": 0.0 for s in ("min", "median", "mean", "max")}
  return {f"{prefix}_min": float(sizes.min()),
          f"{prefix}_median": float(np.median(sizes)),
          f"{prefix}_mean": float(sizes.mean()),
          f"{prefix}_max": float(sizes.max())}


def describe(episodes: Episodes) -> dict[str, Any]:
  """Summary statistics: state, group, number of episodes and dropped users, and the
  min / median / mean / max of the support and query sizes."""
  return {"state": episodes.state, "group": episodes.group, "episodes": len(episodes),
          "dropped": episodes.num_dropped,
          **_size_stats("support", episodes.support_sizes),
          **_size_stats("query", episodes.query_sizes)}
