"""Padded, bucketed numpy batches of `Episodes`, and the data summary of their padding.

:func:`batch_iterator` turns a ragged :class:`~jaxrec.data.episodes.Episodes`
into the fixed-shape numpy batches of the contract (docs/architecture.md)::

  {"support": {"user": int32[B], "item": int32[B, S], "y": float32[B, S],
               "mask": float32[B, S]},
   "query":   {"user": int32[B], "item": int32[B, Q], "y": float32[B, Q],
               "mask": float32[B, Q]}}

grouping users of similar support size into a few padded lengths ``S``
(:func:`bucket_lengths`) so that a jitted step compiles once per bucket.
:func:`pad_batch` builds one such batch, :func:`padding_fraction` measures what
the bucketing saves and :func:`describe_data` reports it for every state.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from jaxrec.data.episodes import (PARTS, STATES, Episodes, describe, make_episodes,
                                  training_episodes)
from jaxrec.data.interactions import Interactions
from jaxrec.data.splits import ColdStartSplit, training_mask

Buckets = Sequence[int] | int | str | None


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
  for name, length in zip(PARTS, (support_len, query_len)):
    items, ys, offsets = episodes.gather(name, indices)
    sizes = np.diff(offsets)
    if (sizes > length).any():
      b = int(np.argmax(sizes > length))
      raise ValueError(
          f"episode {indices[b]} (user {episodes.user[indices[b]]}) has {sizes[b]} "
          f"{name} entries, more than {name}_len={length}")
    rows = np.repeat(np.arange(len(indices)), sizes)
    cols = np.arange(len(items)) - offsets[rows]
    part = {"user": user.copy(), "item": np.zeros((batch_size, length), np.int32),
            "y": np.zeros((batch_size, length), np.float32),
            "mask": np.zeros((batch_size, length), np.float32)}
    part["item"][rows, cols] = items
    part["y"][rows, cols] = ys
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



def describe_data(interactions: Interactions, split: ColdStartSplit, *,
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
