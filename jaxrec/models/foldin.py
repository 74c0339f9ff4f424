"""Meta-learned fold-in: biased matrix factorisation whose user part adapts.

The score of item ``i`` for a user is

  ``r̂(i) = μ + b_i + b_u + q_i · p_u``

with the item side ``(q_i, b_i) = Σ_f E_f[x_{i,f}] (+ W t_i + c)``: one
``rank + 1``-wide embedding per item field (the ``item_id`` and the side fields,
multi-hot fields mean- or sum-pooled) and optionally a projection of the frozen text
vector ``t_i``, split into ``rank`` factors and a bias. The user part
``φ = (p_u, b_u)`` (parameters ``user/factors``, ``user/bias``) is the only part a
meta-learner adapts; its value in ``params`` is the meta-learned prior mean.

``solve`` is the closed-form fold-in from a support set ``(j, r_j)``, a ridge
regression towards the prior:

  ``φ = argmin_φ Σ_j (r_j − μ − b_j − b − p · q_j)² + Σ_d λ_d (φ_d − φ⁰_d)²``,
  ``λ = exp(log_scale + size_slope · log(1 + n))``,

solved exactly (``(XᵀMX + diag λ) φ = XᵀM t + λ ⊙ φ⁰`` with rows ``X_j = [q_j, 1]``
and ``M = diag(m)`` the support rows' mask: a row of weight ``m_j`` counts as
``m_j`` copies of itself, padding as none); ``n = Σ_j m_j`` is the support size, so
the learned shrinkage can depend on it. For
implicit feedback (``unobserved_weight = w₀ > 0``) the support holds positives
(``r_j = 1``) and every training item not in it counts as an observed 0 with weight
``w = exp(log_unobserved)`` (learned, initialised at ``w₀``), as in implicit ALS: the
normal equations gain ``w Σ_c x_c x_cᵀ`` and ``w Σ_c x_c (0 − μ − b_c)`` over the
catalogue's training items ``c`` (the support items' own 0-terms are kept: with
``w`` small against 1 that is the usual approximation). With ``set_prior`` the
prior mean also reads the support set (an encoder over it):
``φ⁰ = φ⁰_θ + (1/n) Σ_j (A[j] + (r_j − μ − b_j) B[j])`` with learned item tables
``A``, ``B`` (zero-initialised, so training starts from the plain prior). With
``user_fields`` the prior mean also reads what is known of the user before any
rating: ``φ⁰ = φ⁰_θ + Σ_f E_f[x_{u,f}]``, one learned ``rank + 1``-wide table per
user field (zero-initialised; multi-hot fields mean-pooled). With the
``"friends"`` field (:func:`jaxrec.data.splits.friends_field`, the training
friends) that is the mean of learned vectors of the user's training friends; with
ML-100K's profile fields, a vector per age, gender, occupation and zip. For
implicit feedback the unobserved items' target becomes ``ρ(n) r̂_c(m)`` instead of
0, with ``r̂_c(m) = μ + b_c + x_c · m`` the score the user-field part
``m = Σ_f E_f[x_{u,f}]`` alone gives and ``ρ(n) = σ(a + b log(1 + n))`` with learned
``(a, b)`` (``prior_pull``, initialised at ``user_pull``): the normal equations'
unobserved right-hand side becomes ``w Σ_c x_c (ρ r̂_c(m) − μ − b_c)``. At ``n = 0``
and ``ρ → 1`` the fold-in is ``m`` plus the plain prior ``φ⁰_θ`` shrunk by
``(Λ + w Σ_c x_c x_cᵀ)⁻¹ Λ`` (a new user who has rated nothing is not a user who
dislikes everything); as ``n`` grows, ``ρ → 0`` (for ``b < 0``) and the user's own
data takes over. At 0 ratings the model recommends from this prior; with ratings
the solve adapts from it. The user fields enter only through ``solve`` (build such
a model with the ``"solve"`` adapter). The solve
is differentiable in every item-side and prior parameter, so the outer loop of
:mod:`jaxrec.meta` learns item vectors, prior and shrinkage for the
post-adaptation query loss. A tuned MF fold-in is a point of this family
(``size_slope = 0``, fixed ``λ``, ALS item factors).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from scipy import sparse

from jaxrec.models.base import RecModel, build_model
from jaxrec.models.losses import check_part
from jaxrec.models.features import MASK_SUFFIX, FieldSpec, select_fields
from jaxrec.models.layers import POOLINGS, FieldEmbedding, ItemEncoder


class UserPart(nn.Module):
  """The adapted user part: ``factors float32[rank]`` and ``bias float32[]``."""

  rank: int

  def setup(self) -> None:
    self.factors = self.param("factors", nn.initializers.zeros_init(), (self.rank,))
    self.bias = self.param("bias", nn.initializers.zeros_init(), ())

  def __call__(self) -> jax.Array:
    """``[factors; bias]``, ``float32[rank + 1]``."""
    return jnp.append(self.factors, self.bias)


class FoldIn(nn.Module):
  """The scorer and closed-form fold-in of the module docstring.

  Parameters: ``global_bias`` (μ), ``item`` (field embeddings and text
  projection, ``rank + 1`` wide), ``user`` (φ⁰), ``log_scale`` and
  ``size_slope`` (``[rank + 1]``, the shrinkage) and, with ``set_prior``,
  ``rated`` and ``residual`` (``A``, ``B``: ``[item vocabulary, rank + 1]``)
  and, with ``user_specs``, ``user_prior/<field>`` (``E_f``: ``[vocabulary,
  rank + 1]``) and, also implicit, ``prior_pull`` (``[a, b]``).
  """

  item_specs: tuple[FieldSpec, ...]
  rank: int
  text: bool
  set_prior: bool
  init_bias: float
  init_shrinkage: float
  unobserved_weight: float = 0.0
  user_specs: tuple[FieldSpec, ...] = ()
  user_pull: tuple[float, float] = (3.0, -1.5)
  item_pooling: str = "mean"

  def setup(self) -> None:
    width = self.rank + 1
    self.item = ItemEncoder(self.item_specs, width, width if self.text else 0,
                            self.item_pooling)
    self.user = UserPart(self.rank)
    self.global_bias = self.param("global_bias", nn.initializers.constant(self.init_bias),
                                  ())
    self.log_scale = self.param(
        "log_scale", nn.initializers.constant(np.log(self.init_shrinkage)), (width,))
    self.size_slope = self.param("size_slope", nn.initializers.zeros_init(), (width,))
    if self.unobserved_weight:
      self.log_unobserved = self.param(
          "log_unobserved", nn.initializers.constant(np.log(self.unobserved_weight)), ())
    if self.set_prior:
      vocab = next(s.vocab_size for s in self.item_specs if s.name == "item_id")
      self.rated = self.param("rated", nn.initializers.zeros_init(), (vocab, width))
      self.residual = self.param("residual", nn.initializers.zeros_init(), (vocab, width))
    if self.user_specs:
      self.user_prior = FieldEmbedding(self.user_specs, width, nn.initializers.zeros_init())
      if self.unobserved_weight:
        self.prior_pull = self.param(
            "prior_pull", lambda _, shape: jnp.asarray(self.user_pull, jnp.float32), (2,))

  def item_side(self, item_feats: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``(q float32[S, rank], b float32[S])`` of ``[S]`` items' rows."""
    z = sum(self.item(item_feats))
    return z[..., :-1], z[..., -1]

  def __call__(self, user_feats: Mapping[str, jax.Array],
               item_feats: Mapping[str, jax.Array]) -> jax.Array:
    """``r̂ float32[S] = μ + b_i + b_u + q_i · p_u`` with ``(p_u, b_u)`` = ``user``."""
    if self.user_specs and self.is_initializing():
      # only creates the tables: the user fields enter through ``solve``
      self.user_prior(user_feats)
    q, b = self.item_side(item_feats)
    phi = self.user()
    return self.global_bias + b + phi[-1] + q @ phi[:-1]

  def solve(self, user_feats: Mapping[str, jax.Array], item_feats: Mapping[str, jax.Array],
            y: jax.Array, mask: jax.Array, catalogue: Mapping[str, jax.Array]
            ) -> dict[str, dict[str, jax.Array]]:
    """The ridge fold-in of ``S`` support rows (``y``, ``mask``: ``float32[S]``);
    ``catalogue`` (every item's row) enters only with ``unobserved_weight``.

    Returns ``{"user": {"factors": float32[rank], "bias": float32[]}}``.
    """
    q, b = self.item_side(item_feats)
    x = jnp.concatenate([q, jnp.ones_like(b)[:, None]], axis=-1)
    t = jnp.where(mask > 0, y - self.global_bias - b, 0.0)
    n = jnp.sum(mask)
    lam = jnp.exp(self.log_scale + self.size_slope * jnp.log1p(n))
    prior = self.user()
    known_user = jnp.zeros_like(prior)
    if self.user_specs:
      known_user = sum(self.user_prior(user_feats))
      prior = prior + known_user
    if self.set_prior:
      ids = item_feats["item_id"]
      encoded = self.rated[ids] + t[:, None] * self.residual[ids]
      prior = prior + jnp.sum(mask[:, None] * encoded, axis=0) / jnp.where(n > 0, n, 1.0)
    weighted = x * mask[:, None]
    gram, rhs = weighted.T @ x + jnp.diag(lam), weighted.T @ t + lam * prior
    if self.unobserved_weight:
      qc, bc = self.item_side(catalogue)
      known = training_items(catalogue)
      xc = jnp.concatenate([qc, jnp.ones_like(bc)[:, None]], axis=-1) * known[:, None]
      w = jnp.exp(self.log_unobserved)
      unobserved = w * xc.T @ xc
      gram = gram + unobserved
      offset = w * xc.T @ ((self.global_bias + bc) * known)
      if self.user_specs:  # the target rho * rhat_c(m) instead of 0
        pull = jax.nn.sigmoid(self.prior_pull[0] + self.prior_pull[1] * jnp.log1p(n))
        rhs = rhs + pull * unobserved @ known_user - (1.0 - pull) * offset
      else:
        rhs = rhs - offset
    phi = jnp.linalg.solve(gram, rhs)
    return {"user": {"factors": phi[:-1], "bias": phi[-1]}}


def training_items(table: Mapping[str, jax.Array]) -> jax.Array:
  """``float32[I]``: 1 for the training items (``item_id > 0``), 0 for held-out ones."""
  return (table["item_id"] > 0).astype(jnp.float32)


def catalogue_softmax(predict: Callable[[Any, jax.Array, jax.Array], jax.Array],
                      candidates: jax.Array) -> Callable[[Any, Mapping[str, jax.Array]],
                                                          jax.Array]:
  """The full-catalogue softmax loss of a part's positives.

  ``L = Σ_j m_j [y_j > 0] (log Σ_c exp s_c − s_{i_j}) / max(Σ_j m_j [y_j > 0], 1)``
  with ``s = predict(params, user, all items)`` and ``c`` over the items with
  ``candidates[c] = 1`` (the training items).

  Args:
    predict: the model's ``predict(params, user, items) -> float32[S]``.
    candidates: ``float32[I]``, a 0/1 mask over every item.

  Returns:
    ``loss(params, part) -> float32[]``; 0 for a part without a positive.
  """
  items = jnp.arange(candidates.shape[0])

  def loss(params: Any, part: Mapping[str, jax.Array]) -> jax.Array:
    check_part(part)
    scores = predict(params, part["user"], items)
    normaliser = jax.nn.logsumexp(jnp.where(candidates > 0, scores, -jnp.inf))
    weight = part["mask"] * (part["y"] > 0)
    nll = jnp.where(weight > 0, normaliser - scores[part["item"]], 0.0)
    return jnp.sum(weight * nll) / jnp.maximum(jnp.sum(weight), 1.0)
  return loss


def foldin(user_table: Mapping[str, np.ndarray], item_table: Mapping[str, np.ndarray],
           vocab_sizes: Mapping[str, int], *, rank: int = 8,
           item_fields: Sequence[str] | None = None, user_fields: Sequence[str] = (),
           use_ids: bool = True,
           use_side: bool = True, use_text: bool = False, set_prior: bool = False,
           init_bias: float = 0.0, init_shrinkage: float = 3.0,
           unobserved_weight: float = 0.0, user_pull: Sequence[float] = (3.0, -1.5),
           item_pooling: str = "mean", loss: str = "mse") -> RecModel:
  """The meta-learned fold-in model (module docstring) as a ``RecModel``.

  Args:
    user_table, item_table: feature tables (docs/architecture.md); the user
      table is read only for ``user_fields``.
    vocab_sizes: field -> vocabulary size for every categorical field.
    rank: ``r``, the width of ``p_u`` and ``q_i``.
    item_fields: item side fields; ``None`` = all.
    user_fields: user fields the prior mean reads (module docstring), e.g.
      ``("friends",)``; ``()`` = none (a user is their support set alone).
    use_ids: embed ``item_id`` (held-out items share id 0).
    use_side: embed the item side fields.
    use_text: project ``item_table["text"]`` into ``(q_i, b_i)``.
    set_prior: the support-set encoder in the prior mean (needs ``use_ids``).
    init_bias: the initial ``μ`` (e.g. the mean training rating).
    init_shrinkage: the initial ``λ`` of every coordinate.
    unobserved_weight: ``w₀``, the initial weight of the implicit-feedback
      unobserved term in ``solve`` (0: explicit ridge, no such term).
    user_pull: ``(a, b)``, the initial ``ρ(n) = σ(a + b log(1 + n))`` with which
      the unobserved items' target is the user-field prior's scores
      (``user_fields`` with an unobserved weight only).
    item_pooling: how multi-hot item fields pool their rows, ``"mean"`` or
      ``"sum"`` (then ``(q_i, b_i)`` is linear in the fields' one-hot sets, of
      the form of the ``content_to_factor`` baseline's item vectors).
    loss: ``"mse"``, ``"bce"``, ``"bpr"`` or ``"softmax"`` (the full-catalogue
      softmax of the part's positives over the training items,
      :func:`catalogue_softmax`).

  Returns:
    A ``RecModel`` whose ``adapt_mask`` and ``head_mask`` select ``user`` and
    whose ``solve`` is the ridge fold-in.

  Raises:
    ValueError: ``rank < 1``, ``init_shrinkage <= 0``, ``set_prior``, an
      unobserved weight or the softmax loss without ``use_ids``, no item field
      or text selected, an unknown ``item_pooling``, or as ``select_fields``.
  """
  if rank < 1:
    raise ValueError(f"foldin: rank must be >= 1, got {rank}")
  if item_pooling not in POOLINGS:
    raise ValueError(f"foldin: item_pooling must be one of {POOLINGS}, got {item_pooling!r}")
  if not init_shrinkage > 0:
    raise ValueError(f"foldin: init_shrinkage must be > 0, got {init_shrinkage}")
  if set_prior and not use_ids:
    raise ValueError("foldin: set_prior reads item ids; set use_ids=True")
  item_specs = select_fields(item_table, vocab_sizes, kind="item", fields=item_fields,
                             use_ids=use_ids, use_side=use_side)
  user_specs = (select_fields(user_table, vocab_sizes, kind="user", fields=user_fields)
                if user_fields else ())
  if not item_specs and not use_text:
    raise ValueError("foldin: no item field selected and no text: the item side is empty")
  if unobserved_weight < 0:
    raise ValueError(f"foldin: unobserved_weight must be >= 0, got {unobserved_weight}")
  if (unobserved_weight or loss == "softmax") and not use_ids:
    raise ValueError("foldin: the unobserved term and the softmax loss range over the "
                     "training items, read from item ids; set use_ids=True")
  module = FoldIn(item_specs, rank, use_text, set_prior, init_bias, init_shrinkage,
                  unobserved_weight, user_specs, tuple(float(v) for v in user_pull),
                  item_pooling)
  config = {"rank": rank, "item_fields": [s.name for s in item_specs],
            "user_fields": [s.name for s in user_specs], "use_ids": use_ids,
            "use_side": use_side, "use_text": use_text, "set_prior": set_prior,
            "init_bias": init_bias, "init_shrinkage": init_shrinkage,
            "unobserved_weight": unobserved_weight, "user_pull": list(user_pull),
            "item_pooling": item_pooling}
  user_part = lambda path: path[0] == "user"  # noqa: E731
  model = build_model(name="foldin", config=config, module=module, user_table=user_table,
                      user_specs=user_specs, item_table=item_table, item_specs=item_specs,
                      use_text=use_text, loss="mse" if loss == "softmax" else loss,
                      adapts=user_part, head=user_part)
  if loss != "softmax":
    return model
  candidates = training_items({"item_id": jnp.asarray(item_table["item_id"])})
  return dataclasses.replace(model, loss=catalogue_softmax(model.predict, candidates),
                             config={**model.config, "loss": loss})


def warm_start(params: dict, item_id: np.ndarray, mu: float, item_factors: np.ndarray,
               item_bias: np.ndarray, foldin_reg: float, bias_reg: float,
               unobserved_weight: float | None = None, user_id: np.ndarray | None = None,
               user_vectors: np.ndarray | None = None) -> dict:
  """``params`` set so that the model *is* a fitted MF with ridge fold-in.

  The ``item_id`` embedding row of item ``i`` becomes ``[q_i, b_i]`` (items with
  id 0, held out of training, keep the shared unknown row at 0), every other
  item-side table and the text projection become 0, ``μ = mu``, the prior
  ``φ⁰ = 0``, ``λ = foldin_reg`` on the factors and ``bias_reg`` on the bias
  (``size_slope = 0``) and the set encoder 0; the implicit unobserved weight
  becomes ``unobserved_weight`` when given, else keeps its value. ``solve`` then
  gives exactly MF's fold-in (for explicit data), so meta-training starts from the
  tuned baseline (and early stopping can keep it). The ``user_prior`` tables
  become 0, except ``"friends"`` when ``user_vectors`` are given: training user
  ``v``'s row becomes ``user_vectors[v]``, so that the prior mean is the mean of a
  user's training friends' vectors (at 0 ratings, with ``ρ(0) → 1``, their fold-in);
  ``prior_pull`` keeps its value.

  Args:
    params: a ``foldin`` model's parameters (``use_ids=True``).
    item_id: ``int32[I]``, the item table's ``"item_id"`` field.
    mu, item_factors ``float[I, rank]``, item_bias ``float[I]``: the MF fit.
    foldin_reg: the fold-in ridge penalty on the factors, ``> 0``.
    bias_reg: the fold-in ridge penalty on the user bias, ``> 0``.
    unobserved_weight: the implicit unobserved weight ``w > 0`` (models built
      with ``unobserved_weight > 0`` only), or None.
    user_id: ``int32[U]``, the user table's ``"user_id"`` field (with
      ``user_vectors``).
    user_vectors: ``float[U, rank + 1]``, each user's ``[p_u, b_u]`` in the fit,
      or None (the friends table stays 0).

  Returns:
    The new parameter pytree (same structure and dtypes).

  Raises:
    ValueError: ``params`` has no ``item_id`` table, the MF rank differs,
      ``unobserved_weight`` is given to a model without the unobserved term, or
      ``user_vectors`` to a model without the friends field (or without
      ``user_id``).
  """
  embed = params["item"]["embed"]
  if "item_id" not in embed:
    raise ValueError("foldin.warm_start needs the item_id embedding (use_ids=True)")
  table = np.zeros(embed["item_id"].shape, np.float32)
  if item_factors.shape[1] + 1 != table.shape[1]:
    raise ValueError(f"foldin.warm_start: MF rank {item_factors.shape[1]} differs from "
                     f"the model's rank {table.shape[1] - 1}")
  known = item_id > 0
  table[item_id[known]] = np.concatenate(
      [item_factors[known], item_bias[known, None]], axis=1)
  zeros = jax.tree.map(jnp.zeros_like, params)
  out = {**zeros}
  if unobserved_weight is not None and "log_unobserved" not in params:
    raise ValueError("foldin.warm_start: unobserved_weight given but the model has no "
                     "unobserved term (build it with unobserved_weight > 0)")
  if "log_unobserved" in params:
    out["log_unobserved"] = (params["log_unobserved"] if unobserved_weight is None else
                             jnp.asarray(np.log(unobserved_weight),
                                         params["log_unobserved"].dtype))
  out["item"] = {**zeros["item"], "embed": {**zeros["item"]["embed"],
                                            "item_id": jnp.asarray(table)}}
  out["global_bias"] = jnp.asarray(mu, params["global_bias"].dtype)
  out["log_scale"] = jnp.asarray(
      np.append(np.full(table.shape[1] - 1, np.log(foldin_reg)), np.log(bias_reg)),
      params["log_scale"].dtype)
  if "prior_pull" in params:
    out["prior_pull"] = params["prior_pull"]
  if user_vectors is not None:
    rows = _friend_rows(params, user_id, user_vectors)
    out["user_prior"] = {**out["user_prior"], "friends": rows}
  return out


def side_from_factors(params: dict, item_table: Mapping[str, np.ndarray], l2: float, *,
                      trained: np.ndarray, pooling: str) -> dict:
  """``params`` with the content part of each item's ``[q_i, b_i]`` moved into the
  side-field tables, so that an item without training rows is scored from its
  features (a map of the ``content_to_factor`` baseline's form, inside the model).

  With ``t_i`` the item side of each training item (``item_id > 0``: its
  ``item_id`` row plus its side fields' rows) and ``x_i`` its side-field design
  row (per field the one-hot of its id; multi-hot fields mask-weighted, and
  divided by their count for ``pooling="mean"``, as the model pools them), the
  ridge map ``(t̄, W)`` of :func:`jaxrec.baselines.content.factor_ridge` (penalty
  ``l2``), fit on the training items with ``trained`` rows, sets each side field's
  table to its block of ``W``, such an item's ``item_id`` row to ``t_i − x_i W``,
  and the rows of the other training items and the shared unknown row (id 0,
  every held-out item) to ``t̄``. An item with training rows keeps its
  ``[q_i, b_i]``, so ``solve`` on its ratings and its scores are unchanged;
  every other item gets ``t̄ + x_i W``. The text projection is not used (it stays
  as it is).

  Args:
    params: a ``foldin`` model's parameters, e.g. from :func:`warm_start`.
    item_table: the model's item table (``item_id`` and the side fields).
    l2: the ridge penalty, ``> 0``.
    trained: ``bool[I]``, the items whose ``[q_i, b_i]`` were fit on training
      rows (a training item nobody rated in training has no information).
    pooling: the model's ``item_pooling``.

  Returns:
    The new parameter pytree (same structure and dtypes).

  Raises:
    ValueError: ``l2 <= 0``, the model has no side field or no ``item_id``
      table, or as ``factor_ridge``.
  """
  from jaxrec.baselines.content import factor_ridge  # pylint: disable=import-outside-toplevel
  if not l2 > 0:
    raise ValueError(f"foldin.side_from_factors: l2 must be > 0, got {l2}")
  embed = params["item"]["embed"]
  fields = [name for name in embed if name != "item_id"]
  if "item_id" not in embed or not fields:
    raise ValueError("foldin.side_from_factors needs the item_id table and at least one "
                     f"side field (use_ids=True, use_side=True); the model has {list(embed)}")
  item_id = np.asarray(item_table["item_id"])
  blocks = []
  for name in fields:
    ids = np.asarray(item_table[name]).reshape(len(item_id), -1)
    mask = np.asarray(item_table.get(name + MASK_SUFFIX, np.ones(ids.shape)),
                      np.float64).reshape(ids.shape)
    count = mask.sum(axis=1, keepdims=True)
    weight = mask if pooling == "sum" else mask / np.where(count > 0, count, 1.0)
    rows = np.repeat(np.arange(len(item_id)), ids.shape[1])
    blocks.append(sparse.csr_array((weight.ravel(), (rows, ids.ravel())),
                                   shape=(len(item_id), embed[name].shape[0])))
  design = sparse.hstack(blocks, format="csr")
  id_rows = np.asarray(embed["item_id"], np.float64)
  side_now = np.concatenate([np.asarray(embed[name], np.float64) for name in fields])
  known = item_id > 0
  fit = known & np.asarray(trained, bool)
  target = id_rows[item_id] + design @ side_now
  mean, weights = factor_ridge(design, target, fit, l2)
  table = np.zeros_like(id_rows)
  table[0] = mean
  table[item_id[known & ~fit]] = mean
  table[item_id[fit]] = target[fit] - np.asarray((design @ weights)[fit])
  split = np.cumsum([embed[name].shape[0] for name in fields])[:-1]
  new = {name: jnp.asarray(block, embed[name].dtype)
         for name, block in zip(fields, np.split(weights, split))}
  new["item_id"] = jnp.asarray(table, embed["item_id"].dtype)
  return {**params, "item": {**params["item"], "embed": new}}


def _friend_rows(params: dict, user_id: np.ndarray | None, user_vectors: np.ndarray
                 ) -> jax.Array:
  """The warm ``user_prior/friends`` table of :func:`warm_start`: ``user_vectors[v]``
  at row ``user_id[v]`` of every training user ``v``, 0 elsewhere."""
  if "friends" not in params.get("user_prior", {}) or user_id is None:
    raise ValueError("foldin.warm_start: user_vectors given but the model has no "
                     "'friends' user field (user_fields=('friends',)) or no user_id")
  shape = params["user_prior"]["friends"].shape
  if user_vectors.shape[1] != shape[1]:
    raise ValueError(f"foldin.warm_start: user_vectors are {user_vectors.shape[1]} wide, "
                     f"the friends table {shape[1]}")
  table = np.zeros(shape, np.float32)
  train = user_id > 0
  table[user_id[train]] = user_vectors[train]
  return jnp.asarray(table)
