"""The benchmarks' MeLU workload: random feature tables with MovieLens-1M
vocabularies, random episodes, one padded batch per length bucket, and the inner
and outer learning rates. ``meta_step.py``, ``compare.py`` and ``torch_reference.py``
(and the fast-path tests) all measure this one problem."""

from __future__ import annotations

import numpy as np

from jaxrec.data.batching import bucket_lengths, pad_batch
from jaxrec.data.episodes import Episodes

# field -> (vocabulary size, max ids per row); 1 = a single-id field.
ITEM_FIELDS = {"rate": (6, 1), "genre": (25, 6), "director": (2186, 3), "actor": (8030, 10)}
USER_FIELDS = {"gender": (2, 1), "age": (7, 1), "occupation": (21, 1), "zip": (3402, 1)}
NUM_ITEMS, NUM_USERS = 3706, 6040
QUICK_SCALE = 20  # --quick divides vocabularies and table sizes by this
INNER_LR, OUTER_LR = 5e-6, 5e-5


def random_table(rng: np.random.Generator, num_rows: int,
                 fields: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
  """A feature table with random ids: ``int32[N]`` per single-id field, ``int32[N, m]``
  plus ``float32[N, m]`` ``<field>_mask`` (1 to m ids, ids ≥ 1) per multi-hot field.

  Raises:
    ValueError: when a vocabulary is smaller than 2 (no id besides padding).
  """
  table = {}
  for name, (vocab, arity) in fields.items():
    if vocab < 2:
      raise ValueError(f"field '{name}': vocabulary {vocab} has no id besides 0")
    ids = rng.integers(1, vocab, (num_rows, arity)).astype(np.int32)
    if arity == 1:
      table[name] = ids[:, 0]
      continue
    count = rng.integers(1, arity + 1, num_rows)
    mask = np.arange(arity)[None, :] < count[:, None]
    table[name] = np.where(mask, ids, 0).astype(np.int32)
    table[name + "_mask"] = mask.astype(np.float32)
  return table


def ml1m_tables(seed: int = 0, scale: int = 1
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
  """Random ``(user_table, item_table, vocab_sizes)`` with ML-1M vocabularies.

  ``scale > 1`` divides the row counts and vocabularies by ``scale`` (at least 2
  ids per field), for smoke runs.
  """
  rng = np.random.default_rng(seed)
  shrink = lambda fields: {k: (max(v // scale, 2), m) for k, (v, m) in fields.items()}  # noqa: E731
  item_fields, user_fields = shrink(ITEM_FIELDS), shrink(USER_FIELDS)
  item = random_table(rng, max(NUM_ITEMS // scale, 2), item_fields)
  user = random_table(rng, max(NUM_USERS // scale, 2), user_fields)
  vocab = {k: v for k, (v, _) in {**item_fields, **user_fields}.items()}
  return user, item, vocab


def synthetic_episodes(num_tasks: int, *, num_users: int, num_items: int, seed: int,
                       min_support: int = 3, max_support: int = 90,
                       query_size: int = 10) -> Episodes:
  """Random episodes: support sizes uniform in ``[min_support, max_support]``,
  ``query_size`` query ratings, items uniform over the catalogue, ratings 1..5.

  Returns:
    An ``Episodes`` (state ``"train"``) with ``num_tasks`` episodes.

  Raises:
    ValueError: for ``num_tasks < 1`` or ``min_support`` outside
      ``[1, max_support]``.
  """
  if num_tasks < 1 or not 1 <= min_support <= max_support:
    raise ValueError(f"need num_tasks >= 1 and 1 <= min_support <= max_support, got "
                     f"{num_tasks}, {min_support}, {max_support}")
  rng = np.random.default_rng(seed)
  support_sizes = rng.integers(min_support, max_support + 1, num_tasks)
  query_sizes = np.full(num_tasks, query_size)

  def ratings(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    total = int(sizes.sum())
    return (rng.integers(0, num_items, total).astype(np.int32),
            rng.integers(1, 6, total).astype(np.float32), np.r_[0, np.cumsum(sizes)])

  s_item, s_y, s_off = ratings(support_sizes)
  q_item, q_y, q_off = ratings(query_sizes)
  return Episodes(state="train", group="train",
                  user=rng.integers(0, num_users, num_tasks).astype(np.int32),
                  support_item=s_item, support_y=s_y, support_offsets=s_off,
                  query_item=q_item, query_y=q_y, query_offsets=q_off)


def bucket_batches(episodes: Episodes, batch_size: int, buckets: str | int | None
                   ) -> list[tuple[int, float, dict[str, dict[str, np.ndarray]]]]:
  """One full padded batch per bucket: ``[(S, fraction of episodes, batch)]``.

  Raises:
    ValueError: when a bucket has fewer than ``batch_size`` episodes.
  """
  sizes = episodes.support_sizes
  lengths = bucket_lengths(sizes, buckets)
  bucket = np.searchsorted(lengths, sizes)
  query_len = int(episodes.query_sizes.max())
  out = []
  for b, length in enumerate(lengths):
    members = np.flatnonzero(bucket == b)
    if len(members) < batch_size:
      raise ValueError(f"bucket S={length} has {len(members)} episodes, fewer than "
                       f"batch_size={batch_size}; generate more episodes")
    batch = pad_batch(episodes, members[:batch_size], support_len=int(length),
                      query_len=query_len)
    out.append((int(length), len(members) / len(episodes), batch))
  return out
