"""A small MeLU problem shared by the fast-path tests (test_benchmarks, test_meta_feature_space).

MeLU on shrunk ML-1M-like random tables (``benchmarks.workload``), padded
episode batches, and the straightforward loss the fast paths must reproduce.
"""

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import workload
from jaxrec import models
from jaxrec.data.batching import pad_batch


def small_model():
  """MeLU on shrunk ML-1M-like random tables (186 items, 302 users)."""
  user, item, vocab = workload.ml1m_tables(seed=1, scale=20)
  return models.melu(user, item, vocab, embed_dim=4, hidden=(5, 3)), user, item


def small_batch(num_users, num_items, batch_size=3, support_len=7, query_len=4):
  """A padded batch of ``batch_size`` random episodes (jnp arrays)."""
  episodes = workload.synthetic_episodes(batch_size, num_users=num_users,
                                         num_items=num_items, seed=2, min_support=1,
                                         max_support=support_len, query_size=query_len)
  batch = pad_batch(episodes, np.arange(batch_size), support_len=support_len,
                    query_len=query_len)
  return jax.tree.map(jnp.asarray, batch)


def one_task():
  """``(model, params, support, query)``: the small model and one task of ``small_batch``."""
  model, user, item = small_model()
  params = model.init(jax.random.key(0))
  batch = small_batch(len(user["zip"]), len(item["rate"]))
  support, query = (jax.tree.map(lambda x: x[1], batch[k]) for k in ("support", "query"))
  return model, params, support, query


def reference_loss(model):
  """The straightforward task loss: predict on the gathered rows, masked MSE."""
  def loss(params, part):
    return models.mse(model.predict(params, part["user"], part["item"]), part["y"],
                      part["mask"])
  return loss


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  """``np.testing.assert_allclose`` on every pair of leaves."""
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)
