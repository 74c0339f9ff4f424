"""The feature-space MAML loss (``jaxrec.meta._feature_space``) and ``maml_loss``'s
``feature_space`` argument, on a small MeLU (a ``LinearInputLossFn``).

Carrying the first layer's output rows through the inner loop must give the
loss and the gradients (w.r.t. θ and a scalar α) of adapting the weights.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import meta
from tests.melu_case import assert_trees_close, one_task, reference_loss


@pytest.mark.parametrize("num_steps", [1, 3])
@pytest.mark.parametrize("first_order, remat, adapt_bias", [
    (False, False, True), (False, True, True), (False, "recompute", True), (True, False, True),
    (False, False, False)])
def test_feature_space_maml_loss_matches_the_weight_space_path(num_steps, first_order,
                                                               remat, adapt_bias):
  # The inner loop on the first layer's output rows (LinearInputLoss) gives the
  # loss and the gradients w.r.t. θ and the scalar α of adapting the weights.
  model, params, support, query = one_task()
  assert isinstance(model.loss, meta.LinearInputLossFn)
  trainable = jax.tree_util.tree_map_with_path(
      lambda path, flag: flag and (adapt_bias or jax.tree_util.keystr(path) !=
                                   "['mlp']['hidden_0']['bias']"), model.adapt_mask)

  def objective(loss_fn, remat):
    return jax.jit(jax.value_and_grad(lambda p, lr: meta.maml_loss(
        loss_fn, p, support, query, lr, num_steps, first_order=first_order,
        trainable=trainable, remat=remat), argnums=(0, 1)))

  value, grads = objective(model.loss, remat)(params, 0.3)
  ref_value, ref_grads = objective(reference_loss(model), False)(params, 0.3)
  np.testing.assert_allclose(value, ref_value, rtol=1e-5)
  assert_trees_close(grads, ref_grads, rtol=1e-4, atol=1e-6)
  assert abs(float(grads[1])) > 0  # the inner rate gets its gradient


def test_feature_space_loop_unrolled_gives_the_same_gradients():
  model, params, support, query = one_task()
  values = [jax.jit(jax.value_and_grad(lambda p, unroll=unroll: meta.maml_loss(
      model.loss, p, support, query, 0.3, 4, trainable=model.adapt_mask,
      unroll=unroll)))(params) for unroll in (1, True)]
  np.testing.assert_allclose(values[0][0], values[1][0], rtol=1e-6)
  assert_trees_close(values[0][1], values[1][1], rtol=1e-5, atol=1e-7)


def test_feature_space_linear_inputs_without_a_row_index():
  # linear_inputs may hand over X itself (index None) instead of a table and rows.
  model, params, support, query = one_task()
  rows_only = dataclasses.replace(
      model.loss, linear_inputs=lambda f: (f["user_x"], f["item_x"], None))
  values = [jax.value_and_grad(lambda p: meta.maml_loss(
      loss_fn, p, support, query, 0.3, 3, trainable=model.adapt_mask))(params)
            for loss_fn in (rows_only, reference_loss(model))]
  np.testing.assert_allclose(values[0][0], values[1][0], rtol=1e-5)
  assert_trees_close(values[0][1], values[1][1], rtol=1e-4, atol=1e-6)


def test_feature_space_path_names_an_integer_trainable_leaf():
  model, params, support, query = one_task()
  params["mlp"]["out"]["bias"] = jnp.zeros(1, jnp.int32)
  with pytest.raises(ValueError, match="trainable leaf 'mlp/out/bias' has dtype int32"):
    meta.maml_loss(model.loss, params, support, query, 0.3, 2, trainable=model.adapt_mask)


def test_feature_space_path_is_skipped_where_it_does_not_apply():
  # A pytree α (Meta-SGD) and a frozen first layer (ANIL) take the weight-space
  # path: mutate head_from so that using it would change the result.
  model, params, support, query = one_task()
  broken = broken_head(model)
  rates = meta.meta_sgd_init(params, 0.3)
  anil = meta.trainable_mask(params, "^mlp/out/")
  for kwargs in ({"inner_lr": rates, "trainable": model.adapt_mask},
                 {"inner_lr": 0.3, "trainable": anil}):
    got = meta.maml_loss(broken, params, support, query, num_steps=2, **kwargs)
    expected = meta.maml_loss(reference_loss(model), params, support, query, num_steps=2,
                              **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert float(meta.maml_loss(broken, params, support, query, 0.3, 2,
                              trainable=model.adapt_mask)) == 0.0


def broken_head(model):
  """MeLU's loss whose feature-space head returns 0: using that path shows."""
  return dataclasses.replace(model.loss, head_from=lambda p, h, f: jnp.float32(0.0))


def test_feature_space_argument_forces_either_path():
  model, params, support, query = one_task()
  broken = broken_head(model)

  def loss(feature_space):
    return float(meta.maml_loss(broken, params, support, query, 0.3, 2,
                                trainable=model.adapt_mask, feature_space=feature_space))

  assert loss(None) == loss(True) == 0.0
  expected = meta.maml_loss(reference_loss(model), params, support, query, 0.3, 2,
                            trainable=model.adapt_mask)
  np.testing.assert_allclose(loss(False), expected, rtol=1e-5)


def test_feature_space_true_says_why_it_does_not_apply():
  model, params, support, query = one_task()
  cases = [
      (reference_loss(model), 0.3, 2, model.adapt_mask, "is not a LinearInputLossFn"),
      (model.loss, 0.3, 0, model.adapt_mask, "num_steps is 0"),
      (model.loss, meta.meta_sgd_init(params, 0.3), 2, model.adapt_mask,
       "inner_lr is not a scalar"),
      (model.loss, 0.3, 2, meta.trainable_mask(params, "^mlp/out/"),
       "kernel 'mlp/hidden_0/kernel' is not adapted"),
      (model.loss, 0.3, 2, None, "prepare reads an adapted leaf"),
  ]
  for loss_fn, rate, steps, trainable, reason in cases:
    with pytest.raises(ValueError, match=f"feature_space=True, but .*{reason}"):
      meta.maml_loss(loss_fn, params, support, query, rate, steps, trainable=trainable,
                     feature_space=True)
  with pytest.raises(ValueError, match="feature_space must be None, True or False"):
    meta.maml_loss(model.loss, params, support, query, 0.3, 2, feature_space="auto")


def test_linear_leaves_missing_from_the_params_are_named():
  model, params, support, query = one_task()
  renamed = dataclasses.replace(model.loss, linear_leaves=("mlp/first/kernel",
                                                          "mlp/hidden_0/bias"))
  with pytest.raises(ValueError, match="linear_leaves names 'mlp/first/kernel', which is "
                                       "not a leaf of the params"):
    meta.maml_loss(renamed, params, support, query, 0.3, 2, trainable=model.adapt_mask)
