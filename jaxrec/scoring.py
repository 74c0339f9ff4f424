"""Scoring methods on padded episode batches, and the metrics of their scores.

A method is scored through a *scorer* pair ``(score_query, score_all)``:
``score_query(batch) -> float[B, Q]`` scores each task's query items and
``score_all(batch, candidates int[C]) -> float[B, C]`` every candidate item. A
(meta-)trained model first adapts each task on its support set with the config's
adapter (:func:`make_adapter`; :func:`make_predict`, :func:`model_scoring`); a
fitted baseline predicts from the support set (:func:`baseline_scorers`). Scores
become per-user arrays (:func:`query_arrays`) and metrics: the query set's
(:func:`query_metrics`) and those of each user's ranking of a candidate catalogue
(:func:`catalogue_metrics`). Training's validation (:mod:`jaxrec.train`) and
evaluation (:mod:`jaxrec.evaluate`) adapt and score here, so a task is scored the
same way in both; serving (:mod:`jaxrec.serving.server`) builds its adapter here
(:func:`make_adapter`, :func:`inner_rate`), and the baselines' tuning
(:mod:`jaxrec.tuned_baselines`) pads its validation episodes here
(:func:`padded_batches`; :func:`jaxrec.baselines.grid_search` scores them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxrec import adapters
from jaxrec import baselines
from jaxrec import meta
from jaxrec import metrics
from jaxrec import models
from jaxrec import prepare
from jaxrec import results as results_lib
from jaxrec.data import batching
from jaxrec.data import episodes as episodes_lib

KS = (1, 3, 5, 10)  # the k of the query-set ranking metrics (ndcg@k, ...)

Scorer = Callable[[dict], np.ndarray]  # padded batch -> float[B, Q] query scores


def trainable(config: ml_collections.ConfigDict, model: models.RecModel) -> Any:
  """The inner loop's adapted leaves: ``config.meta.adapt`` is ``"model"`` (the
  model's ``adapt_mask``), ``"all"`` (None: every leaf) or ``"head"`` (ANIL: only
  the output layer the model declares, its ``head_mask``).

  Returns:
    A pytree of Python bools shaped like the params, or None.

  Raises:
    ValueError: ``config.meta.adapt`` is none of these.
  """
  adapt = config.meta.adapt
  if adapt == "model":
    return model.adapt_mask
  if adapt == "all":
    return None
  if adapt == "head":
    return model.head_mask
  raise ValueError(f"config.meta.adapt must be 'model', 'all' or 'head', got {adapt!r}")


def make_adapter(config: ml_collections.ConfigDict, model: models.RecModel
                 ) -> adapters.Adapter:
  """The config's adapter (``config.meta.adapter``, default ``"gradient"``) over
  the leaves :func:`trainable` selects; see :mod:`jaxrec.adapters`.

  Raises:
    ValueError: as :func:`trainable` and :func:`jaxrec.adapters.make_adapter`, or
      a ``foldin`` model with ``user_fields`` (read only by its solve) without the
      ``"solve"`` adapter.
  """
  # .get: config.json of runs older than the field (evaluated and served) lacks it
  name = config.meta.get("adapter", "gradient")
  if model.name == "foldin" and model.config.get("user_fields") and name != "solve":
    raise ValueError(f"foldin with user_fields {model.config['user_fields']} reads them "
                     f"in its solve only: set config.meta.adapter='solve', got {name!r}")
  return adapters.make_adapter(name, model, trainable(config, model))


def inner_rate(config: ml_collections.ConfigDict, state: meta.MetaState) -> Any:
  """The inner learning rate used at test time (learned for Meta-SGD)."""
  return config.meta.inner_lr if state.inner_lr is None else state.inner_lr


def batch_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """Evaluation's padded ``(batch, support, query)`` shape: ``eval_batch_size``,
  ``max_ratings`` and ``query_size`` rows, times ``1 + negatives`` for the
  sampled negatives."""
  data = config.data
  return (config.eval_batch_size, data.max_ratings * (1 + data.negatives),
          data.query_size * (1 + data.negatives))


def validation_batches(config: ml_collections.ConfigDict, prepared: prepare.Prepared
                       ) -> list[dict]:
  """The validation users' ``new_users`` episodes padded to :func:`batch_shape`:
  what evaluation, the baselines' tuning and a tuned warm start choose on."""
  data = config.data
  return padded_batches(episodes_lib.make_episodes(
      prepared.interactions, prepared.split, "new_users", group="val",
      query_size=data.query_size, negatives=data.negatives, seed=config.seed),
      batch_shape(config))


def padded_batches(episodes: episodes_lib.Episodes, shape: tuple[int, int, int]
                   ) -> list[dict]:
  """The episodes in order, padded to one ``(batch, support, query)`` shape (the
  support length grows to the longest support set), so every state, k-shot set
  and method reuses one compiled scorer."""
  batch_size, support_len, query_len = shape
  support_len = max(support_len, int(episodes.support_sizes.max(initial=1)))
  return [batching.pad_batch(episodes, np.arange(i, min(i + batch_size, len(episodes))),
                             support_len=support_len, query_len=query_len,
                             batch_size=batch_size)
          for i in range(0, len(episodes), batch_size)]


def make_predict(model: models.RecModel, adapter: adapters.Adapter):
  """Jitted ``predict(params, inner_lr, num_steps, batch) -> float32[B, Q]``.

  Each task is adapted on its support set (``adapter`` with ``num_steps``
  gradient steps, static) and scores its query items.
  """
  def one(params, inner_lr, num_steps, support, query):
    phi = adapter(params, inner_lr, num_steps, support)
    return model.predict(phi, query["user"], query["item"])

  @functools.partial(jax.jit, static_argnums=2)
  def predict(params, inner_lr, num_steps, batch):
    return jax.vmap(one, in_axes=(None, None, None, 0, 0))(
        params, inner_lr, num_steps, batch["support"], batch["query"])
  return predict


def model_scoring(model: models.RecModel, adapter: adapters.Adapter):
  """``scorers(params, inner_lr, num_steps) -> (score_query, score_all)`` for a
  (meta-)trained model: each task is adapted on its support set (``adapter``),
  then scores its query items / every item of a candidate array. The jitted
  functions are built once, so every call of ``scorers`` with same-shaped
  batches reuses them. ``scorers.trajectory(params, inner_lr, max_steps, batch)``
  is ``float32[max_steps + 1, B, Q]``: the query scores after 0, 1, ...,
  ``max_steps`` inner steps of one adaptation per task."""
  predict = make_predict(model, adapter)

  @functools.partial(jax.jit, static_argnums=2)
  def all_items(params, lr, num_steps, batch, candidates):
    def one(support, user):
      return model.predict(adapter(params, lr, num_steps, support), user, candidates)
    return jax.vmap(one)(batch["support"], batch["query"]["user"])

  @functools.partial(jax.jit, static_argnums=2)
  def trajectory(params, lr, max_steps, batch):
    def one(support, query):
      phi, scores = adapter.initial(params, support), []
      for _ in range(max_steps + 1):
        scores.append(model.predict(phi, query["user"], query["item"]))
        phi = meta.adapt(model.loss, phi, support, lr, 1, trainable=adapter.trainable)
      return jnp.stack(scores)
    return jax.vmap(one, out_axes=1)(batch["support"], batch["query"])

  def scorers(params, inner_lr, num_steps: int) -> tuple[Scorer, Callable]:
    return (lambda batch: predict(params, inner_lr, num_steps, batch),
            lambda batch, cand: all_items(params, inner_lr, num_steps, batch, cand))
  scorers.trajectory = trajectory
  return scorers


def baseline_scorers(baseline: baselines.Baseline
                     ) -> tuple[Scorer, Callable[[dict, np.ndarray], np.ndarray]]:
  """``(score_query, score_all)`` of a fitted baseline."""
  def score_all(batch, candidates):
    s = batch["support"]
    query = np.broadcast_to(candidates, (s["item"].shape[0], len(candidates)))
    return baseline.predict(s["item"], s["y"], s["mask"], query)
  return baseline.predict_batch, score_all


def query_arrays(batches: Sequence[dict], scores: Sequence[np.ndarray]
                  ) -> dict[str, np.ndarray]:
  """Concatenates per-batch ``float[B, Q]`` query scores with the batches' query
  users, labels and masks, dropping padded tasks, in user order.

  Returns:
    ``{"user": int32[E], "scores", "y", "mask": float[E, Q]}`` (``Q`` the widest
    batch's; narrower batches are zero-padded), ready for :mod:`jaxrec.metrics`.
  """
  q = max(b["query"]["item"].shape[1] for b in batches)
  pad = lambda x: np.pad(x, ((0, 0), (0, q - x.shape[1])))  # noqa: E731
  out = {k: [] for k in ("user", "scores", "y", "mask")}
  for batch, s in zip(batches, scores):
    real = batch["query"]["mask"].sum(axis=1) > 0
    out["user"].append(batch["query"]["user"][real])
    out["scores"].append(pad(np.asarray(s, np.float64)[real]))
    out["y"].append(pad(batch["query"]["y"][real]))
    out["mask"].append(pad(batch["query"]["mask"][real]))
  arrays = {k: np.concatenate(v) for k, v in out.items()}
  order = np.argsort(arrays["user"], kind="stable")
  return {k: v[order] for k, v in arrays.items()}


def predict_episodes(predict, params, inner_lr, num_steps: int,
                     episodes: episodes_lib.Episodes, *, batch_size: int,
                     buckets: Any = "pow2") -> dict[str, np.ndarray]:
  """Scores every episode's query set after adapting on its support set
  (``predict`` as :func:`make_predict` returns).

  Returns:
    :func:`query_arrays` of the episodes' batches, in user order.
  """
  batches = list(batching.batch_iterator(episodes, batch_size, shuffle=False,
                                         buckets=buckets))
  return query_arrays(batches, [predict(params, inner_lr, num_steps, b) for b in batches])


def query_metrics(batches: Sequence[dict], scores: Sequence[np.ndarray], implicit: bool
                  ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """``(summary, per-user metrics)`` of per-batch query scores
  (:func:`jaxrec.metrics.per_user_metrics` at ``KS``, the mean over users; the
  per-user arrays in user-id order, with their ``"user"`` ids)."""
  arrays = query_arrays(batches, scores)
  per_user = metrics.per_user_metrics(arrays["scores"], arrays["y"], arrays["mask"],
                                      ks=KS, implicit=implicit)
  return metrics.summarize(per_user), {"user": arrays["user"], **per_user}


def catalogue_metrics(score_all: Callable[[dict, np.ndarray], np.ndarray],
                      batches: Sequence[dict], candidates: np.ndarray,
                      prepared: prepare.Prepared
                      ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """Metrics of each user's ranking of every item in ``candidates``.

  The user's support items with ``y > 0`` (rated, or listened) are excluded.
  ``coverage@k`` / ``novelty@k`` / ``diversity@k`` come from the top-k lists.
  ``full_recall@k`` / ``full_ndcg@k`` / ``full_hit@k``
  (:func:`jaxrec.metrics.per_user_full_catalogue`, binary gain) rank the held-out
  relevant items, the query items with ``y >= relevance threshold`` (4 for
  ratings: liked; 1 for implicit data: listened), against the whole candidate
  catalogue; the other query items (disliked, or sampled negatives) stay
  ordinary candidates. Users without a relevant query item are left out of
  these means; ``full_users`` counts the users in them.

  Args:
    score_all: ``(padded batch, int[C] candidates) -> float[B, C]`` scores.
    batches: padded episode batches (padded tasks are skipped).
    candidates: ``int[C]`` item ids of the state's catalogue.
    prepared: the run's data.

  Returns:
    ``(summary, per_user)``: the means above and ``full_users``; per user, the
    ``"full_*@k"`` values as ``float64[E]`` (NaN for a user left out), in user-id
    order like :func:`query_arrays`.

  Raises:
    ValueError: as :func:`jaxrec.metrics.per_user_full_catalogue` and
      :func:`jaxrec.metrics.top_k_items` (e.g. fewer than ``k`` candidates).
  """
  k = results_lib.CATALOGUE_K
  threshold = metrics.relevance_threshold_for(prepared.interactions.implicit, None)
  tops, full, users = [], [], []
  for batch in batches:
    real = batch["query"]["mask"].sum(axis=1) > 0
    scores = np.asarray(score_all(batch, candidates), np.float64)
    per_user, seen = metrics.batch_full_catalogue(scores, batch, candidates, threshold, k)
    tops.append(metrics.top_k_items(scores[real], k, exclude=seen))
    full.append(per_user)
    users.append(batch["query"]["user"][real])
  order = np.argsort(np.concatenate(users), kind="stable")
  per_user = {f"full_{key}": np.concatenate([f[key] for f in full])[order]
              for key in full[0]}
  top = np.concatenate(tops)  # positions in ``candidates``
  shown, top_shown = np.unique(top, return_inverse=True)
  out = {f"coverage@{k}": metrics.coverage_at_k(top, len(candidates)),
         f"novelty@{k}": metrics.novelty_at_k(
             top, prepared.popularity[candidates], len(prepared.split.train_users)),
         f"diversity@{k}": metrics.diversity_at_k(
             top_shown.reshape(top.shape), prepare.item_vectors(prepared, candidates[shown])),
         **metrics.summarize(per_user),
         "full_users": int(np.isfinite(per_user[f"full_recall@{k}"]).sum())}
  return out, per_user
