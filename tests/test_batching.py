"""Tests for jaxrec.data.batching: padded batches, buckets, epochs, padding summary."""

import collections

import numpy as np
import pytest

from jaxrec.data.batching import (batch_iterator, bucket_lengths, num_batches, pad_batch,
                                  padding_fraction, describe_data)
from jaxrec.data.episodes import describe, make_episodes, training_episodes
from jaxrec.data.splits import training_mask
from test_episodes import episode_triples, small_episodes
from test_splits import data, split  # noqa: F401 (shared fixtures)


def test_pad_batch_by_hand():
  batch = pad_batch(small_episodes(), [2, 0], support_len=4, query_len=2, batch_size=3)
  s, q = batch["support"], batch["query"]
  np.testing.assert_array_equal(s["user"], [9, 7, 0])
  np.testing.assert_array_equal(q["user"], [9, 7, 0])
  np.testing.assert_array_equal(s["item"], [[4, 5, 6, 0], [1, 2, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(s["y"], [[2, 1, 5, 0], [5, 4, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(s["mask"], [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(q["item"], [[14, 0], [11, 0], [0, 0]])
  np.testing.assert_array_equal(q["mask"], [[1, 0], [1, 0], [0, 0]])
  for part in (s, q):
    assert part["user"].dtype == part["item"].dtype == np.int32
    assert part["y"].dtype == part["mask"].dtype == np.float32


def test_pad_batch_errors():
  with pytest.raises(ValueError, match=r"episode 2 \(user 9\) has 3 support entries, "
                                       r"more than support_len=2"):
    pad_batch(small_episodes(), [0, 2], support_len=2, query_len=2)
  with pytest.raises(ValueError, match="batch_size=1 is smaller than the 2"):
    pad_batch(small_episodes(), [0, 1], support_len=3, query_len=2, batch_size=1)


def test_bucket_lengths():
  sizes = np.array([3, 9, 20, 40, 90])
  np.testing.assert_array_equal(bucket_lengths(sizes), [8, 16, 32, 64, 90])
  np.testing.assert_array_equal(bucket_lengths(sizes, None), [90])
  np.testing.assert_array_equal(bucket_lengths(sizes, [10, 50, 200]), [10, 50, 90])
  np.testing.assert_array_equal(bucket_lengths(np.array([1, 2, 3, 4]), 2), [3, 4])
  np.testing.assert_array_equal(bucket_lengths(np.array([5]), "pow2"), [5])
  with pytest.raises(ValueError, match="buckets must be None, 'pow2'"):
    bucket_lengths(sizes, "log")


def test_batch_iterator_covers_every_rating_once(data, split):
  eps = make_episodes(data, split, "warm")
  lengths = bucket_lengths(eps.support_sizes)
  seen = {"support": collections.Counter(), "query": collections.Counter()}
  batches = list(batch_iterator(eps, 8, seed=0))
  assert len(batches) == num_batches(eps, 8) > 1
  for batch in batches:
    support_len = batch["support"]["item"].shape[1]
    assert support_len in lengths
    assert batch["query"]["item"].shape == (8, eps.query_sizes.max())
    for part in ("support", "query"):
      p = batch[part]
      assert p["item"].shape[0] == p["user"].shape[0] == 8
      rows, cols = np.nonzero(p["mask"])
      seen[part].update(zip(p["user"][rows].tolist(), p["item"][rows, cols].tolist(),
                            p["y"][rows, cols].tolist()))
      assert (p["item"][p["mask"] == 0] == 0).all()
      assert (p["y"][p["mask"] == 0] == 0).all()
    sizes = batch["support"]["mask"].sum(1)
    sizes = sizes[sizes > 0].astype(int)
    assert (lengths[np.searchsorted(lengths, sizes)] == support_len).all()
  for part in ("support", "query"):
    assert seen[part] == episode_triples(eps, part)


def test_padded_tasks_are_all_zero():
  batches = list(batch_iterator(small_episodes(), 4, buckets=None, shuffle=False))
  assert len(batches) == 1
  for part in ("support", "query"):
    p = batches[0][part]
    assert p["mask"][:3].sum(1).min() > 0
    assert p["mask"][3].sum() == p["item"][3].sum() == p["y"][3].sum() == 0
    assert p["user"][3] == 0


def test_batch_iterator_determinism_and_resume(data, split):
  eps = make_episodes(data, split, "warm")

  def items(**kw):
    return [b["support"]["item"] for b in batch_iterator(eps, 4, **kw)]

  a, b, c = items(seed=2), items(seed=2), items(seed=3)
  assert all(np.array_equal(x, y) for x, y in zip(a, b))
  assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))
  resumed = items(seed=2, start=3)
  assert len(resumed) == len(a) - 3
  assert all(np.array_equal(x, y) for x, y in zip(a[3:], resumed))
  ordered = items(shuffle=False, buckets=None)
  np.testing.assert_array_equal(ordered[0][0, :eps.support_sizes[0]],
                                eps.part("support", 0)[0])


@pytest.mark.parametrize("batch_size, buckets", [(8, "pow2"), (4, None), (3, 4)])
def test_an_epoch_trains_every_user_exactly_once(data, split, batch_size, buckets):
  # As train() iterates an epoch: shuffled, bucketed, the last batch of each
  # bucket filled with padded tasks (none dropped).
  eps = training_episodes(data, split, epoch=1, seed=0)
  batches = list(batch_iterator(eps, batch_size, seed=7, buckets=buckets))
  assert len(batches) == num_batches(eps, batch_size, buckets=buckets)
  lengths = bucket_lengths(eps.support_sizes, buckets)
  per_bucket = np.bincount(np.searchsorted(lengths, eps.support_sizes))
  assert len(batches) == sum(-(-n // batch_size) for n in per_bucket)
  assert (per_bucket % batch_size).any()  # some bucket has a remainder batch
  real_users = []
  for batch in batches:
    real = batch["query"]["mask"].sum(1) > 0
    np.testing.assert_array_equal(real, batch["support"]["mask"].sum(1) > 0)
    assert batch["support"]["user"].shape == (batch_size,)
    real_users += batch["support"]["user"][real].tolist()
  assert sorted(real_users) == sorted(eps.user.tolist())
  assert len(set(real_users)) == len(eps)


def test_padding_fraction_by_hand_and_bucketing_helps(data, split):
  # 10 real slots. One bucket: 2 batches x 2 tasks x (S=3 + Q=2) = 20 slots.
  assert padding_fraction(small_episodes(), 2, None) == pytest.approx(1 - 10 / 20)
  # Buckets [2, 3]: sizes 2, 1 -> a batch with S=2 (8 slots), size 3 -> S=3 (10).
  assert padding_fraction(small_episodes(), 2, [2]) == pytest.approx(1 - 10 / 18)
  eps = training_episodes(data, split, epoch=0, seed=0)
  bucketed = padding_fraction(eps, 8, "pow2")
  unbucketed = padding_fraction(eps, 8, None)
  print(f"padding fraction: bucketed {bucketed:.3f}, unbucketed {unbucketed:.3f}")
  assert 0 < bucketed < unbucketed < 1


def test_describe_and_summarize(data, split):
  eps = make_episodes(data, split, "new_users")
  d = describe(eps)
  assert d["episodes"] == len(eps) and d["dropped"] == eps.num_dropped
  assert d["support_min"] == eps.support_sizes.min()
  assert d["query_median"] == np.median(eps.query_sizes)
  summary = describe_data(data, split, batch_size=8, query_size=5)
  assert summary["ratings"] == data.num_interactions
  assert summary["training_ratings"] == training_mask(data, split).sum()
  assert summary["test_users"] == len(split.test_users)
  assert set(summary["episodes"]) == {
      "train", "warm", "new_users/val", "new_users/test", "new_items/val",
      "new_items/test", "new_users_new_items/val", "new_users_new_items/test"}
  entry = summary["episodes"]["new_users/test"]
  assert entry["query_max"] == 5
  assert entry["padding_unbucketed"] == padding_fraction(
      make_episodes(data, split, "new_users", query_size=5), 8, None)
