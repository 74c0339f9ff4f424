"""User episodes (support / query ratings) per cold-start state, and padded batches.

An :class:`Episodes` holds one ragged (CSR-style) set of tasks: episode ``e`` is
user ``user[e]`` with support ratings
``support_item[support_offsets[e]:support_offsets[e + 1]]`` (and ``support_y``)
and query ratings sliced the same way. :func:`batch_iterator` turns them into the
fixed-shape numpy batches of the contract (docs/architecture.md)::

  {"support": {"user": int32[B], "item": int32[B, S], "y": float32[B, S],
               "mask": float32[B, S]},
   "query":   {"user": int32[B], "item": int32[B, Q], "y": float32[B, Q],
               "mask": float32[B, Q]}}

grouping users of similar support size into a few padded lengths ``S`` so that a
jitted step compiles once per bucket.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Sequence

import numpy as np

from jaxrec.data.interactions import Interactions
from jaxrec.data.splits import (ColdStartSplit, _member_mask, _rank_within_user,
                                holdout_mask, training_mask)

STATES = ("warm", "new_users", "new_items", "new_users_new_items")
PARTS = ("support", "query")

Buckets = Sequence[int] | int | str | None


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

  def part(self, name: str, e: int) -> tuple[np.ndarray, np.ndarray]:
    """``(item int32[n], y float32[n])`` of episode ``e``'s part ``name``.

    Raises:
      ValueError: when ``name`` is not ``"support"`` or ``"query"``.
    """
    items, ys, offsets = _part_arrays(self, name)
    return items[offsets[e]:offsets[e + 1]], ys[offsets[e]:offsets[e + 1]]

  def select(self, indices: np.ndarray) -> "Episodes":
    """The episodes at ``indices`` (``int[K]``), in that order; same ``num_dropped``."""
    indices = np.asarray(indices, np.int64)
    fields = {"user": self.user[indices]}
    for name in PARTS:
      items, ys, offsets = _part_arrays(self, name)
      pos, new_offsets = _segment_positions(offsets, indices)
      fields.update({f"{name}_item": items[pos], f"{name}_y": ys[pos],
                     f"{name}_offsets": new_offsets})
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
  is_candidate = _member_mask(candidates, interactions.num_users)
  support = support & is_candidate[interactions.user]
  query = query & is_candidate[interactions.user]
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
    pool_masks = [_member_mask(pool, interactions.num_items) for pool in pools]
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
  picked[idx[_rank_within_user(users, keys[idx]) < counts[users]]] = True
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
  on_train_items = _member_mask(split.train_items, interactions.num_items)[
      interactions.item]
  train_rows = training_mask(interactions, split)
  rows = on_train_items if new_users and group != "train" else train_rows
  query_pool = split.train_items
  if state == "warm":
    support, query = rows, holdout_mask(interactions, split)
  elif state == "new_users":
    support, query = _split_rows(interactions, rows, query_size, min_support, keys)
  else:
    query_pool = split.items(group)
    on_group_items = _member_mask(query_pool, interactions.num_items)[interactions.item]
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
  (resume with :func:`batch_iterator`'s ``start``). Users with fewer than two
  training ratings are dropped. For implicit data, ``negatives`` per positive are
  sampled from the train items the user has no *training* interaction with.

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
  sizes = episodes.support_sizes
  entry_episode = np.repeat(np.arange(len(episodes)), sizes)
  negative = (episodes.support_y == 0) if episodes.negatives else np.zeros(
      len(entry_episode), bool)
  rng = np.random.default_rng(seed)
  ranks = _rank_within_user(2 * entry_episode + negative,
                            rng.random(len(entry_episode)))
  keep_entry = ranks < np.where(negative, k * episodes.negatives, k)
  positives = np.bincount(entry_episode[~negative], minlength=len(episodes))
  keep = np.flatnonzero(positives >= k)
  if len(keep) == 0:
    raise ValueError(f"truncate_support: no episode of state '{episodes.state}' "
                     f"({episodes.group}) has >= {k} support positives (max "
                     f"{positives.max(initial=0)})")
  kept_entries = np.flatnonzero(keep_entry)
  truncated = dataclasses.replace(
      episodes, support_item=episodes.support_item[kept_entries],
      support_y=episodes.support_y[kept_entries],
      support_offsets=_offsets(entry_episode[kept_entries], len(episodes)),
      num_dropped=episodes.num_dropped + len(episodes) - len(keep))
  return truncated.select(keep)


def pad_batch(episodes: Episodes, indices: Sequence[int] | np.ndarray, *,
              support_len: int, query_len: int,
              batch_size: int | None = None) -> dict[str, dict[str, np.ndarray]]:
  """The contract's padded batch of the episodes at ``indices``.

  Task ``b < len(indices)`` holds episode ``indices[b]``, left-aligned:
  ``item[b, :n] / y[b, :n]`` its entries and ``mask[b, :n] = 1``; the padding has
  item 0, y 0, mask 0. Rows ``len(indices) .. batch_size - 1`` are padded tasks
  (user 0, all-zero masks).

  Args:
    episodes: the episodes.
    indices: ``int[K]`` episode indices.
    support_len, query_len: the padded lengths ``S`` and ``Q``.
    batch_size: ``B``; defaults to ``K``.

  Returns:
    ``{"support": {"user": int32[B], "item": int32[B, S], "y": float32[B, S],
    "mask": float32[B, S]}, "query": {... [B, Q]}}`` (numpy).

  Raises:
    ValueError: when ``batch_size < K`` or an episode is longer than its
      padded length (the message names the episode and user).
  """
  indices = np.asarray(indices, np.int64)
  batch_size = len(indices) if batch_size is None else batch_size
  if batch_size < len(indices):
    raise ValueError(f"batch_size={batch_size} is smaller than the {len(indices)} "
                     "episodes requested")
  user = np.zeros(batch_size, np.int32)
  user[:len(indices)] = episodes.user[indices]
  batch = {}
  for name, length in (("support", support_len), ("query", query_len)):
    items, ys, offsets = _part_arrays(episodes, name)
    sizes = np.diff(offsets)[indices]
    if (sizes > length).any():
      b = int(np.argmax(sizes > length))
      raise ValueError(
          f"episode {indices[b]} (user {episodes.user[indices[b]]}) has {sizes[b]} "
          f"{name} entries, more than {name}_len={length}")
    pos, new_offsets = _segment_positions(offsets, indices)
    rows = np.repeat(np.arange(len(indices)), sizes)
    cols = np.arange(len(pos)) - new_offsets[rows]
    part = {"user": user.copy(), "item": np.zeros((batch_size, length), np.int32),
            "y": np.zeros((batch_size, length), np.float32),
            "mask": np.zeros((batch_size, length), np.float32)}
    part["item"][rows, cols] = items[pos]
    part["y"][rows, cols] = ys[pos]
    part["mask"][rows, cols] = 1.0
    batch[name] = part
  return batch


def bucket_lengths(sizes: np.ndarray, buckets: Buckets = "pow2") -> np.ndarray:
  """The sorted padded support lengths of the buckets; the last is ``max(sizes)``.

  Args:
    sizes: ``int[E]`` support sizes (non-empty).
    buckets: ``None`` (one bucket), ``"pow2"`` (8, 16, 32, ... below the
      maximum), an ``int`` n (the ``j / n`` quantiles of ``sizes``, rounded up),
      or explicit lengths (those below the maximum are kept).

  Returns:
    ``int64[L]`` strictly increasing lengths; an episode of size ``s`` goes to
    the smallest length ``>= s``.

  Raises:
    ValueError: for an unknown string, a non-positive count or length, or empty
      ``sizes``.
  """
  sizes = np.asarray(sizes)
  if sizes.size == 0:
    raise ValueError("bucket_lengths: no episodes")
  top = int(sizes.max())
  if buckets is None:
    lengths = []
  elif isinstance(buckets, str):
    if buckets != "pow2":
      raise ValueError(
          f"buckets must be None, 'pow2', an int or lengths, got {buckets!r}")
    lengths = 8 * 2 ** np.arange(max(int(np.ceil(np.log2(max(top, 8) / 8))), 0))
  elif isinstance(buckets, (int, np.integer)):
    if buckets < 1:
      raise ValueError(f"the number of buckets must be >= 1, got {buckets}")
    lengths = np.ceil(np.quantile(sizes, np.arange(1, buckets + 1) / buckets))
  else:
    lengths = np.asarray(buckets)
    if lengths.size and lengths.min() < 1:
      raise ValueError(f"bucket lengths must be >= 1, got {lengths.tolist()}")
  lengths = np.asarray(lengths, np.int64)
  return np.unique(np.r_[lengths[lengths < top], max(top, 1)]).astype(np.int64)


def _plan(episodes: Episodes, batch_size: int, buckets: Buckets,
          rng: np.random.Generator | None) -> list[tuple[np.ndarray, int]]:
  """The batches of an epoch: ``(episode indices, support length)`` per batch.

  Episodes (shuffled when ``rng`` is given) are grouped by bucket and chunked
  into batches of at most ``batch_size`` (every episode in exactly one batch);
  the batch order is then shuffled too.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  sizes = episodes.support_sizes
  lengths = bucket_lengths(sizes, buckets)
  bucket = np.searchsorted(lengths, sizes)
  order = np.arange(len(episodes)) if rng is None else rng.permutation(len(episodes))
  plan = []
  for b, length in enumerate(lengths):
    members = order[bucket[order] == b]
    plan += [(members[i:i + batch_size], int(length))
             for i in range(0, len(members), batch_size)]
  if rng is not None:
    plan = [plan[i] for i in rng.permutation(len(plan))]
  return plan


def num_batches(episodes: Episodes, batch_size: int, *, buckets: Buckets = "pow2") -> int:
  """The number of batches :func:`batch_iterator` yields for ``start=0``:
  ``sum over buckets of ceil(episodes in the bucket / batch_size)``."""
  return len(_plan(episodes, batch_size, buckets, None))


def batch_iterator(episodes: Episodes, batch_size: int, *, seed: int = 0,
                   shuffle: bool = True, buckets: Buckets = "pow2",
                   start: int = 0) -> Iterator[dict[str, dict[str, np.ndarray]]]:
  """Yields the padded batches of one pass over ``episodes``.

  Episodes are grouped by support size into the buckets of
  :func:`bucket_lengths`; every episode is a real task of exactly one batch.
  Every batch has ``B = batch_size`` tasks (the last batch of a bucket is filled
  with padded tasks), one support length ``S`` (its bucket's) and ``Q = max
  query size``. With
  ``shuffle`` the episodes and the batch order are permuted by
  ``numpy.random.default_rng(seed)``; the sequence is a function of the
  arguments, so ``start`` batches can be skipped to resume.

  Yields:
    :func:`pad_batch` dicts, ready for ``jax.device_put``.

  Raises:
    ValueError: for ``batch_size < 1``, ``start < 0`` or bad ``buckets``.
  """
  if start < 0:
    raise ValueError(f"start must be >= 0, got {start}")
  rng = np.random.default_rng(seed) if shuffle else None
  query_len = max(int(episodes.query_sizes.max(initial=0)), 1)
  for indices, support_len in _plan(episodes, batch_size, buckets, rng)[start:]:
    yield pad_batch(episodes, indices, support_len=support_len, query_len=query_len,
                    batch_size=batch_size)


def padding_fraction(episodes: Episodes, batch_size: int,
                     buckets: Buckets = "pow2") -> float:
  """Fraction of padded slots over one pass of :func:`batch_iterator`.

  ``1 - (sum_e |support_e| + |query_e|) / (sum_batches B * (S_batch + Q))``
  (it does not depend on the shuffling).
  """
  plan = _plan(episodes, batch_size, buckets, None)
  query_len = max(int(episodes.query_sizes.max(initial=0)), 1)
  slots = sum(batch_size * (length + query_len) for _, length in plan)
  real = episodes.support_sizes.sum() + episodes.query_sizes.sum()
  return float(1.0 - real / slots)


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


def summarize(interactions: Interactions, split: ColdStartSplit, *,
              batch_size: int = 32, buckets: Buckets = "pow2",
              **episode_kwargs: Any) -> dict[str, Any]:
  """A data summary: dataset and split sizes, and the episodes of every state.

  ``episodes`` maps ``"train"`` (meta-training episodes of epoch 0), ``"warm"``
  and ``"<state>/<group>"`` for the other states and the val/test groups to
  :func:`describe` plus the padding fraction of a pass with ``buckets``
  (``padding_bucketed``) and with one bucket (``padding_unbucketed``).
  ``episode_kwargs`` go to :func:`make_episodes` (``query_size`` and
  ``negatives`` also to :func:`training_episodes`).

  Raises:
    ValueError: as :func:`make_episodes` does.
  """
  sets = {"train": training_episodes(
      interactions, split, epoch=0, seed=episode_kwargs.get("seed", 0),
      **{k: episode_kwargs[k] for k in ("query_size", "negatives")
         if k in episode_kwargs}),
          "warm": make_episodes(interactions, split, "warm", **episode_kwargs)}
  for state in STATES[1:]:
    for group in ("val", "test"):
      sets[f"{state}/{group}"] = make_episodes(interactions, split, state, group=group,
                                               **episode_kwargs)
  episodes = {
      key: {**describe(eps),
            "padding_bucketed": padding_fraction(eps, batch_size, buckets),
            "padding_unbucketed": padding_fraction(eps, batch_size, None)}
      for key, eps in sets.items()}
  return {"dataset": interactions.name, "users": interactions.num_users,
          "items": interactions.num_items, "ratings": interactions.num_interactions,
          "implicit": interactions.implicit,
          "training_ratings": int(training_mask(interactions, split).sum()),
          "warm_holdout": len(split.warm_holdout),
          "excluded_users": len(split.excluded_users), **split.sizes(),
          "episodes": episodes}
