"""The batched meta-steps of jaxrec.meta.steps (float64 throughout)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from jaxrec import meta

OUTER_LR = 0.1
INNER_LR = 0.2
NUM_STEPS = 2
BIAS_ONLY = {"w": False, "b": True}


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


def linear_loss(params, part):
  """Masked mean squared error of y ≈ x·w + b over a part's rows."""
  pred = part["x"] @ params["w"] + params["b"]
  return jnp.sum(part["mask"] * (pred - part["y"]) ** 2) / jnp.maximum(
      jnp.sum(part["mask"]), 1.0)


def initial_params():
  return {"w": jnp.array([0.3, -0.2, 0.1]), "b": jnp.array(0.05)}


def padded_part(rng, rows, valid, padded_task):
  """One task's part with ``rows`` rows of which the first ``valid`` are real."""
  mask = (np.arange(rows) < valid) * (not padded_task)
  x = rng.normal(size=(rows, 3)) * mask[:, None]
  y = (x @ np.array([1.0, 0.5, -1.0]) + rng.normal(size=rows) + 1.0) * mask
  return {"user": np.int32(0 if padded_task else rng.integers(1, 100)),
          "x": x, "y": y, "mask": mask.astype(np.float64)}


def padded_batch(seed=0, real=3, padded=2, support=(6, 4), query=(5, 3)):
  """``real`` tasks followed by ``padded`` all-masked ones, in the batch layout,
  plus the real tasks with their padded rows sliced off."""
  rng = np.random.default_rng(seed)
  tasks = [{"support": padded_part(rng, *support, b >= real),
            "query": padded_part(rng, *query, b >= real)} for b in range(real + padded)]
  batch = jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *tasks)
  unpadded = [{"support": jax.tree.map(lambda x: x[:support[1]] if np.ndim(x) else x,
                                       t["support"]),
               "query": jax.tree.map(lambda x: x[:query[1]] if np.ndim(x) else x,
                                     t["query"])} for t in tasks[:real]]
  return batch, jax.tree.map(jnp.asarray, unpadded)


def loop_mean(values):
  return jax.tree.map(lambda *xs: sum(xs) / len(xs), *values)


def loop_metrics(params, tasks, adapted, grads):
  return {
      "query_loss_before": loop_mean([linear_loss(params, t["query"]) for t in tasks]),
      "query_loss_after": loop_mean([linear_loss(a, t["query"])
                                     for a, t in zip(adapted, tasks)]),
      "support_loss": loop_mean([linear_loss(params, t["support"]) for t in tasks]),
      "grad_norm": optax.tree.norm(grads),
      "num_tasks": float(len(tasks)),
  }


def maml_loop(params, inner_lr, tasks, first_order, trainable):
  """SGD-updated (params, inner_lr), the (θ, α) meta-gradients and the metrics
  (``grad_norm`` of the θ-gradient), one task at a time."""
  def task_loss(p, lr, t):
    return meta.maml_loss(linear_loss, p, t["support"], t["query"], lr, NUM_STEPS,
                          first_order=first_order, trainable=trainable)
  grads = loop_mean([jax.grad(task_loss, argnums=(0, 1))(params, inner_lr, t)
                     for t in tasks])
  adapted = [meta.adapt(linear_loss, params, t["support"], inner_lr, NUM_STEPS,
                        trainable=trainable) for t in tasks]
  new = jax.tree.map(lambda v, g: v - OUTER_LR * g, (params, inner_lr), grads)
  return new, grads, loop_metrics(params, tasks, adapted, grads[0])


def reptile_loop(params, tasks, epsilon):
  """θ + ε (mean φ − θ) and metrics, φ adapted on support + query rows."""
  def joined(t):
    return jax.tree.map(lambda s, q: jnp.concatenate([s, q]) if s.ndim else s,
                        t["support"], t["query"])
  adapted = [meta.adapt(linear_loss, params, joined(t), INNER_LR, NUM_STEPS)
             for t in tasks]
  direction = loop_mean([jax.tree.map(jnp.subtract, params, a) for a in adapted])
  new = jax.tree.map(lambda p, d: p - epsilon * d, params, direction)
  return new, loop_metrics(params, tasks, adapted, direction)


def assert_trees_close(actual, expected, name, rtol=1e-10, atol=1e-12):
  np.testing.assert_allclose(ravel_pytree(actual)[0], ravel_pytree(expected)[0],
                             rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("algorithm,first_order,trainable", [
    ("maml", False, None), ("fomaml", True, None), ("anil", False, BIAS_ONLY)])
def test_maml_family_batch_equals_loop_over_unpadded_tasks(algorithm, first_order,
                                                           trainable):
  batch, tasks = padded_batch()
  optimizer = optax.sgd(OUTER_LR)
  step = meta.make_meta_step(algorithm, linear_loss, optimizer, inner_lr=INNER_LR,
                             num_steps=NUM_STEPS, trainable=trainable)
  state, metrics = step(meta.init_meta_state(initial_params(), optimizer), batch)
  (params, _), _, expected = jax.jit(lambda p, lr, ts: maml_loop(
      p, lr, ts, first_order, trainable))(initial_params(), INNER_LR, tasks)
  assert int(state.step) == 1 and state.inner_lr is None
  assert_trees_close(state.params, params, "params")
  assert set(metrics) == set(expected)
  for key in expected:
    np.testing.assert_allclose(metrics[key], expected[key], rtol=1e-10, err_msg=key)


def test_meta_sgd_learns_per_parameter_rates_like_the_loop():
  batch, tasks = padded_batch(seed=1)
  optimizer = optax.sgd(OUTER_LR)
  rates = meta.meta_sgd_init(initial_params(), INNER_LR)
  step = meta.make_meta_step("meta_sgd", linear_loss, optimizer, num_steps=NUM_STEPS)
  (params, new_rates), grads, expected = jax.jit(lambda p, lr, ts: maml_loop(
      p, lr, ts, False, None))(initial_params(), rates, tasks)
  state, metrics = step(meta.init_meta_state(initial_params(), optimizer, rates), batch)
  assert_trees_close(state.params, params, "params")
  assert_trees_close(state.inner_lr, new_rates, "inner_lr")
  assert not np.allclose(ravel_pytree(new_rates)[0], INNER_LR)
  np.testing.assert_allclose(metrics["grad_norm"], optax.tree.norm(grads),
                             rtol=1e-10)
  for key in ("query_loss_before", "query_loss_after", "support_loss"):
    np.testing.assert_allclose(metrics[key], expected[key], rtol=1e-10, err_msg=key)


@pytest.mark.parametrize("algorithm", ["reptile", "model_average"])
def test_reptile_family_batch_equals_loop_over_unpadded_tasks(algorithm):
  batch, tasks = padded_batch(seed=2)
  epsilon = 0.5 if algorithm == "reptile" else 1.0
  optimizer = optax.sgd(epsilon)
  step = meta.make_meta_step(algorithm, linear_loss, optimizer, inner_lr=INNER_LR,
                             num_steps=NUM_STEPS)
  state = meta.init_meta_state(initial_params(), optimizer)
  opt_state = state.opt_state
  state, metrics = step(state, batch)
  params, expected = jax.jit(reptile_loop, static_argnums=2)(
      initial_params(), tasks, epsilon)
  assert_trees_close(state.params, params, "params")
  for key in expected:
    np.testing.assert_allclose(metrics[key], expected[key], rtol=1e-10, err_msg=key)
  if algorithm == "model_average":
    assert jax.tree.structure(state.opt_state) == jax.tree.structure(opt_state)


def test_reptile_on_quadratic_moves_theta_by_the_formula():
  """Rows r with loss ½|θ − x_r|² (masked mean): the task loss is ½|θ − x̄|² + c,
  so φ = x̄ + (1 − α)^K (θ − x̄) and Reptile gives θ + ε (mean_b φ_b − θ)."""
  rng = np.random.default_rng(4)
  x = rng.normal(size=(4, 5, 2))
  mask = np.ones((4, 5))
  mask[1, 3:] = 0
  mask[3] = 0                                # a padded task
  part = lambda rows: {"x": jnp.asarray(x[:, rows]),  # noqa: E731
                       "mask": jnp.asarray(mask[:, rows])}
  batch = {"support": part(slice(0, 2)), "query": part(slice(2, 5))}

  def loss(theta, p):
    sq = 0.5 * jnp.sum((theta - p["x"]) ** 2, axis=-1)
    return jnp.sum(p["mask"] * sq) / jnp.maximum(jnp.sum(p["mask"]), 1.0)

  theta, alpha, k, epsilon = np.array([0.5, -1.0]), 0.3, 3, 0.4
  means = np.sum(x * mask[..., None], 1)[:3] / mask.sum(1)[:3, None]
  phis = means + (1 - alpha) ** k * (theta - means)
  step = meta.make_reptile_step(loss, optax.sgd(epsilon), inner_lr=alpha, num_steps=k)
  state, _ = step(meta.init_meta_state(jnp.asarray(theta), optax.sgd(epsilon)), batch)
  np.testing.assert_allclose(state.params, theta + epsilon * (phis.mean(0) - theta),
                             rtol=1e-12)
  average = meta.make_model_average_step(loss, inner_lr=alpha, num_steps=k)
  state, _ = average(meta.init_meta_state(jnp.asarray(theta), optax.sgd(1.0)), batch)
  np.testing.assert_allclose(state.params, phis.mean(0), rtol=1e-12)


def test_donation_and_remat_give_the_same_step():
  batch, _ = padded_batch(seed=3)
  optimizer = optax.adam(1e-2)
  results = []
  for donate in (True, False):
    step = meta.make_maml_step(linear_loss, optimizer, inner_lr=INNER_LR,
                               num_steps=NUM_STEPS, remat=donate, donate=donate)
    params = initial_params()
    state = meta.init_meta_state(params, optimizer)
    new_state, metrics = step(state, batch)
    assert state.params["w"].is_deleted() == donate
    assert not params["w"].is_deleted()  # the state holds a copy
    results.append((new_state.params, metrics))
  assert_trees_close(results[0], results[1], "donate/remat on vs off", rtol=1e-12)


@pytest.mark.parametrize("algorithm,kwargs,remat", [
    ("maml", {"inner_lr": INNER_LR}, {"remat": True}),
    ("maml", {"inner_lr": INNER_LR}, {"remat": "recompute"}),
    ("fomaml", {"inner_lr": INNER_LR}, {}), ("meta_sgd", {}, {}),
    ("reptile", {"inner_lr": INNER_LR}, {})])
def test_microbatches_and_unroll_give_the_same_step(algorithm, kwargs, remat):
  batch, _ = padded_batch(seed=5, real=5, padded=1)
  optimizer = optax.adam(1e-2)
  rates = meta.meta_sgd_init(initial_params(), INNER_LR) if algorithm == "meta_sgd" else None
  results = []
  # the reference: one slice, a rolled loop, no remat
  for microbatches, unroll, options in ((1, 1, {}), (1, 1, remat), (2, 1, remat),
                                        (3, True, remat)):
    step = meta.make_meta_step(algorithm, linear_loss, optimizer, num_steps=NUM_STEPS + 1,
                               microbatches=microbatches, unroll=unroll, **kwargs, **options)
    results.append(step(meta.init_meta_state(initial_params(), optimizer, rates), batch))
  assert float(results[0][1]["num_tasks"]) == 5
  for result in results[1:]:
    assert_trees_close(result, results[0], f"{algorithm} remat / microbatches / unroll",
                       rtol=1e-12)
  step = meta.make_meta_step(algorithm, linear_loss, optimizer, num_steps=NUM_STEPS,
                             microbatches=4, **kwargs)
  with pytest.raises(ValueError, match="6 tasks does not split into microbatches=4"):
    step(meta.init_meta_state(initial_params(), optimizer, rates), batch)
  with pytest.raises(ValueError, match="microbatches must be a positive integer"):
    meta.make_meta_step(algorithm, linear_loss, optimizer, num_steps=NUM_STEPS,
                        microbatches=0, **kwargs)


def test_task_weights_and_concat():
  batch, _ = padded_batch(real=2, padded=1)
  np.testing.assert_array_equal(meta.task_weights(batch), [1.0, 1.0, 0.0])
  no_mask = jax.tree.map(lambda x: x, batch)
  del no_mask["query"]["mask"]
  np.testing.assert_array_equal(meta.task_weights(no_mask), [1.0, 1.0, 1.0])
  joined = meta.concat_support_query(batch)
  assert joined["x"].shape == (3, 11, 3) and joined["mask"].shape == (3, 11)
  np.testing.assert_array_equal(joined["user"], batch["support"]["user"])
  np.testing.assert_array_equal(joined["y"][:, 6:], batch["query"]["y"])
  with pytest.raises(ValueError, match="same pytree structure"):
    meta.concat_support_query(no_mask)


def test_bad_step_arguments():
  sgd = optax.sgd(0.1)
  with pytest.raises(ValueError, match="unknown meta-learning algorithm 'mamal'"):
    meta.make_meta_step("mamal", linear_loss, sgd, inner_lr=0.1, num_steps=1)
  with pytest.raises(ValueError, match="anil needs a trainable mask"):
    meta.make_meta_step("anil", linear_loss, sgd, inner_lr=0.1, num_steps=1)
  with pytest.raises(ValueError, match="fomaml implies first_order=True"):
    meta.make_meta_step("fomaml", linear_loss, sgd, inner_lr=0.1, num_steps=1,
                        first_order=False)
  with pytest.raises(ValueError, match="pass inner_lr=None here"):
    meta.make_meta_step("meta_sgd", linear_loss, sgd, inner_lr=0.1, num_steps=1)
  with pytest.raises(ValueError, match="inner_lr is required"):
    meta.make_maml_step(linear_loss, sgd, num_steps=1)
  with pytest.raises(ValueError, match="num_steps must be non-negative, got -2"):
    meta.make_maml_step(linear_loss, sgd, inner_lr=0.1, num_steps=-2)
  with pytest.raises(ValueError, match="num_steps must be a non-negative Python int"):
    meta.make_reptile_step(linear_loss, sgd, inner_lr=0.1, num_steps=2.0)
  with pytest.raises(ValueError, match="need a fixed inner_lr"):
    meta.make_model_average_step(linear_loss, inner_lr=None, num_steps=1)
  with pytest.raises(ValueError, match="optimizer must be an optax"):
    meta.make_reptile_step(linear_loss, None, inner_lr=0.1, num_steps=1)
  with pytest.raises(ValueError, match="inner_lr must be a scalar or a pytree"):
    meta.init_meta_state(initial_params(), sgd, {"w": 0.1})


def test_state_and_step_must_agree_on_learned_rates():
  batch, _ = padded_batch()
  sgd = optax.sgd(0.1)
  plain = meta.init_meta_state(initial_params(), sgd)
  learned = meta.init_meta_state(initial_params(), sgd, 0.1)
  with pytest.raises(ValueError, match="needs the initial rates in the state"):
    meta.make_meta_step("meta_sgd", linear_loss, sgd, num_steps=1)(plain, batch)
  with pytest.raises(ValueError, match="state.inner_lr is set"):
    meta.make_meta_step("maml", linear_loss, sgd, inner_lr=0.1, num_steps=1)(learned,
                                                                             batch)
  with pytest.raises(ValueError, match="trainable must have the pytree structure"):
    meta.make_meta_step("anil", linear_loss, sgd, inner_lr=0.1, num_steps=1,
                        trainable={"b": True})(plain, batch)


def regression_tasks(rng, w_mean, num_tasks, rows, spread=1.0, noise=0.1):
  """Episodes of per-user regressions y = w_uᵀx + noise, w_u = w̄ + δ_u."""
  w = w_mean + spread * rng.normal(size=(num_tasks, 1, w_mean.size))
  x = rng.normal(size=(num_tasks, 2 * rows, w_mean.size))
  y = np.sum(x * w, -1) + noise * rng.normal(size=(num_tasks, 2 * rows))
  part = lambda s: {"x": jnp.asarray(x[:, s]), "y": jnp.asarray(y[:, s]),  # noqa: E731
                    "mask": jnp.ones((num_tasks, rows))}
  return {"support": part(slice(0, rows)), "query": part(slice(rows, 2 * rows))}


def test_maml_beats_joint_training_on_held_out_tasks():
  """MAML-trained init + K inner steps on each new user's support set versus the
  best single linear model fit jointly on all training rows (least squares)."""
  rng = np.random.default_rng(0)
  dim, rows, k, alpha = 4, 8, 3, 0.2
  w_mean = rng.normal(size=dim)
  params = {"w": jnp.zeros(dim), "b": jnp.array(0.0)}
  optimizer = optax.adam(0.05)
  step = meta.make_maml_step(linear_loss, optimizer, inner_lr=alpha, num_steps=k)
  state = meta.init_meta_state(params, optimizer)
  for _ in range(100):
    state, _ = step(state, regression_tasks(rng, w_mean, 32, rows))

  train = regression_tasks(rng, w_mean, 512, rows)
  x = np.concatenate([train["support"]["x"], train["query"]["x"]], 1).reshape(-1, dim)
  y = np.concatenate([train["support"]["y"], train["query"]["y"]], 1).reshape(-1)
  coef = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]
  joint = {"w": jnp.asarray(coef[:dim]), "b": jnp.asarray(coef[dim])}

  test = regression_tasks(rng, w_mean, 256, rows)
  maml_mse = jnp.mean(jax.vmap(lambda s, q: meta.maml_loss(
      linear_loss, state.params, s, q, alpha, k))(test["support"], test["query"]))
  joint_mse = jnp.mean(jax.vmap(lambda q: linear_loss(joint, q))(test["query"]))
  assert maml_mse < 0.5 * joint_mse, (maml_mse, joint_mse)


def test_meta_state_is_a_plain_dataclass_pytree():
  state = meta.init_meta_state(initial_params(), optax.adam(0.1))
  assert dataclasses.is_dataclass(state)
  assert not any(cls.__module__.startswith("flax") for cls in type(state).__mro__)
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
  assert paths[:3] == [".step", ".params['b']", ".params['w']"]
  bumped = state.replace(step=state.step + 1)
  assert int(bumped.step) == 1 and int(state.step) == 0
  assert_trees_close(dataclasses.replace(state, step=bumped.step), bumped, "replace", rtol=0)
  with pytest.raises(dataclasses.FrozenInstanceError):
    state.step = 3
  with pytest.raises(TypeError):
    state.replace(steps=1)
  doubled = jax.jit(lambda s: jax.tree.map(lambda x: 2 * x, s))(bumped)
  assert isinstance(doubled, meta.MetaState) and int(doubled.step) == 2


def test_algorithms_share_one_registry_and_public_parts():
  assert meta.ALGORITHMS == ("maml", "fomaml", "meta_sgd", "anil", "reptile",
                             "model_average")
  batch, _ = padded_batch(seed=5)
  state = meta.init_meta_state(initial_params(), optax.sgd(1.0))
  kwargs = {"inner_lr": INNER_LR, "num_steps": NUM_STEPS, "donate": False}
  # model averaging ignores the optimizer it is given; it is reptile with sgd(1)
  averaged = [meta.make_meta_step("model_average", linear_loss, optimizer, **kwargs)(
      state, batch)[0].params for optimizer in (None, optax.adam(0.3))]
  reptile = meta.make_reptile_step(linear_loss, optax.sgd(1.0), **kwargs)(state, batch)[0]
  assert_trees_close(averaged[0], averaged[1], "model_average", rtol=0)
  assert_trees_close(averaged[0], reptile.params, "reptile sgd(1)", rtol=1e-12)
  # the public parts make the same step as the factory
  parts = meta.make_meta_parts("fomaml", linear_loss, optax.sgd(0.1), inner_lr=INNER_LR,
                               num_steps=NUM_STEPS)
  assert isinstance(parts, meta.StepParts)
  sums = parts.sums(state, batch)
  assert isinstance(sums, meta.TaskSums) and float(sums.weight) == 3.0
  got = meta.step_from_parts(parts)(state, batch)
  expected = meta.make_maml_step(linear_loss, optax.sgd(0.1), inner_lr=INNER_LR,
                                 num_steps=NUM_STEPS, first_order=True, donate=False)(
                                     state, batch)
  assert_trees_close(got, expected, "parts vs step", rtol=1e-12)
