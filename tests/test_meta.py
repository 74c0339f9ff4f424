"""Correctness of jaxrec.meta's core functions (float64 throughout)."""

import importlib
import pathlib
import subprocess
import sys
import tomllib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxrec import meta

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


def grad_and_differences(fn, tree, eps=1e-6):
  """(jax.grad(fn)(tree), central differences of fn at tree), both flattened.

  Traceable, so a test can compute many of them inside one ``jax.jit``.
  """
  flat, unravel = ravel_pytree(tree)
  basis = jnp.eye(flat.size, dtype=flat.dtype) * eps
  flat_fn = lambda v: fn(unravel(v))  # noqa: E731
  numeric = (jax.vmap(lambda e: flat_fn(flat + e))(basis)
             - jax.vmap(lambda e: flat_fn(flat - e))(basis)) / (2 * eps)
  return ravel_pytree(jax.grad(fn)(tree))[0], numeric


def assert_pairs_close(pairs, rtol, atol=0.0):
  """Asserts every ``name -> (actual, expected)`` pair is close, naming the case."""
  for name, (actual, expected) in pairs.items():
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=name)


# --- A quadratic with closed forms --------------------------------------------
# θ = concat(u[2], v[3]); L_s(θ) = ½(θ−a)ᵀA(θ−a), L_q(θ) = ½(θ−b)ᵀB(θ−b).
# With per-entry rates D = diag(α) and the trainable projector P = diag(mask),
# φₖ₊₁ − a = (I − D P A)(φₖ − a), so with M = I − DPA:
#   φ_K = a + M^K (θ − a),   ∇_θ L_q(φ_K) = (M^K)ᵀ B (φ_K − b),
# and the first-order gradient is B (φ_K − b).

DIM = 5


def split(theta):
  return {"u": theta[:2], "v": theta[2:]}


def join(params):
  return jnp.concatenate([params["u"], params["v"]])


def quadratic_problem():
  """Random SPD A, B (numpy float64), centers a, b and a starting θ."""
  rng = np.random.default_rng(0)
  def spd():
    m = rng.normal(size=(DIM, DIM))
    return m @ m.T / DIM + 0.5 * np.eye(DIM)
  return {"A": spd(), "B": spd(), "a": rng.normal(size=DIM), "b": rng.normal(size=DIM),
          "theta": rng.normal(size=DIM)}


def quadratic_loss(params, part):
  d = join(params) - part["center"]
  return 0.5 * d @ part["hessian"] @ d


def quadratic_parts(prob):
  return ({"center": jnp.asarray(prob["a"]), "hessian": jnp.asarray(prob["A"])},
          {"center": jnp.asarray(prob["b"]), "hessian": jnp.asarray(prob["B"])})


def quadratic_closed_form(prob, rates, mask, num_steps):
  """(φ_K, exact second-order gradient, first-order gradient), numpy vectors."""
  m = np.eye(DIM) - np.diag(rates * mask) @ prob["A"]
  mk = np.linalg.matrix_power(m, num_steps)
  phi = prob["a"] + mk @ (prob["theta"] - prob["a"])
  query_grad = prob["B"] @ (phi - prob["b"])
  return phi, mk.T @ query_grad, query_grad


PER_PARAM_RATES = np.array([0.1, 0.4, 0.2, 0.3, 0.25])
LR_CASES = {  # name -> (inner_lr argument, flat rates for the closed form)
    "scalar": (0.3, np.full(DIM, 0.3)),
    "per_param": (split(PER_PARAM_RATES), PER_PARAM_RATES),
}
MASK_CASES = {  # name -> (trainable argument, flat 0/1 mask)
    "all": (None, np.ones(DIM)),
    "v_only": ({"u": False, "v": True}, np.array([0.0, 0, 1, 1, 1])),
}


def test_quadratic_matches_closed_form():
  """φ_K and the second- and first-order meta-gradients for every combination of
  K in 0..3, scalar / per-parameter rates and with / without a trainable mask."""
  prob = quadratic_problem()
  support, query = quadratic_parts(prob)
  cases = [(k, lr, mask) for k in range(4) for lr in LR_CASES for mask in MASK_CASES]

  @jax.jit
  def computed(theta):
    out = {}
    for k, lr, mask in cases:
      inner_lr, trainable = LR_CASES[lr][0], MASK_CASES[mask][0]
      name = f"K={k} lr={lr} mask={mask}"
      out[name + " phi"] = join(meta.adapt(quadratic_loss, theta, support, inner_lr, k,
                                           trainable=trainable))
      for first_order in (False, True):
        out[f"{name} first_order={first_order}"] = join(jax.grad(
            meta.maml_loss, argnums=1)(quadratic_loss, theta, support, query, inner_lr,
                                       k, first_order=first_order, trainable=trainable))
    return out

  actual = computed(split(jnp.asarray(prob["theta"])))
  pairs = {}
  for k, lr, mask in cases:
    name = f"K={k} lr={lr} mask={mask}"
    phi, second, first = quadratic_closed_form(prob, LR_CASES[lr][1],
                                               MASK_CASES[mask][1], k)
    pairs[name + " phi"] = (actual[name + " phi"], phi)
    pairs[f"{name} first_order=False"] = (actual[f"{name} first_order=False"], second)
    pairs[f"{name} first_order=True"] = (actual[f"{name} first_order=True"], first)
  assert_pairs_close(pairs, rtol=1e-10, atol=1e-12)


def test_quadratic_inner_lr_gradient_matches_finite_differences():
  prob = quadratic_problem()
  support, query = quadratic_parts(prob)
  theta = split(jnp.asarray(prob["theta"]))
  rates = LR_CASES["per_param"][0]

  # First order drops dφₖ/dα through the inner gradients for k ≥ 1, so it is
  # the exact α-gradient only for one step.
  @jax.jit
  def computed(rates):
    return {f"first_order={fo} K={k}": grad_and_differences(
        lambda lr: meta.maml_loss(quadratic_loss, theta, support, query, lr, k,
                                  first_order=fo), rates)
            for fo, k in ((False, 3), (True, 1))}

  assert_pairs_close(computed(rates), rtol=1e-6, atol=1e-8)


# --- A small tanh MLP (3 -> 4 -> 1), checked against finite differences -------

def mlp_params(seed=0):
  rng = np.random.default_rng(seed)
  return {"hidden": {"w": jnp.asarray(rng.normal(size=(3, 4)) * 0.7),
                     "b": jnp.asarray(rng.normal(size=4) * 0.1)},
          "head": {"w": jnp.asarray(rng.normal(size=(4, 1)) * 0.7),
                   "b": jnp.asarray(rng.normal(size=1) * 0.1)}}


def mlp_loss(params, part):
  """Masked mean squared error of a 3→4→1 tanh MLP over a part's rows."""
  h = jnp.tanh(part["x"] @ params["hidden"]["w"] + params["hidden"]["b"])
  pred = (h @ params["head"]["w"] + params["head"]["b"])[..., 0]
  err = part["mask"] * (pred - part["y"]) ** 2
  return jnp.sum(err) / jnp.maximum(jnp.sum(part["mask"]), 1.0)


def mlp_part(rng, rows, valid=None):
  valid = rows if valid is None else valid
  mask = (np.arange(rows) < valid).astype(np.float64)
  return {"x": jnp.asarray(rng.normal(size=(rows, 3)) * mask[:, None]),
          "y": jnp.asarray(rng.normal(size=rows) * mask),
          "mask": jnp.asarray(mask)}


def mlp_task(seed=1):
  rng = np.random.default_rng(seed)
  return mlp_part(rng, 6), mlp_part(rng, 5)


HEAD_ONLY = {"hidden": {"w": False, "b": False}, "head": {"w": True, "b": True}}


def test_mlp_meta_gradients_match_finite_differences():
  """∇_θ (second order) and ∇_α of the MAML loss against central differences,
  over K = 1..3, with / without the head-only mask, scalar / per-parameter α."""
  params = mlp_params()
  support, query = mlp_task()
  rates = jax.tree.map(lambda p: 0.2 + 0.1 * jnp.tanh(p), params)
  theta_cases = [(1, None, 0.25), (2, HEAD_ONLY, rates), (3, None, rates)]
  rate_cases = [(3, HEAD_ONLY)]

  @jax.jit
  def computed(params, rates):
    out = {}
    for k, trainable, inner_lr in theta_cases:
      out[f"d/dtheta K={k} head_only={trainable is not None} "
          f"scalar_lr={inner_lr is not rates}"] = grad_and_differences(
              lambda p: meta.maml_loss(mlp_loss, p, support, query, inner_lr, k,
                                       trainable=trainable), params)
    for k, trainable in rate_cases:
      out[f"d/dalpha K={k} head_only={trainable is not None}"] = grad_and_differences(
          lambda lr: meta.maml_loss(mlp_loss, params, support, query, lr, k,
                                    trainable=trainable), rates)
    return out

  assert_pairs_close(computed(params, rates), rtol=1e-6, atol=1e-8)


def test_mlp_first_order_gradient_is_query_gradient_at_adapted_params():
  params = mlp_params()
  support, query = mlp_task()

  @jax.jit
  def computed(params):
    out = {}
    for k in (1, 3):
      for trainable in (None, HEAD_ONLY):
        fo = jax.grad(lambda p: meta.maml_loss(mlp_loss, p, support, query, 0.3, k,
                                               first_order=True,
                                               trainable=trainable))(params)
        adapted = meta.adapt(mlp_loss, params, support, 0.3, k, trainable=trainable)
        out[f"K={k} head_only={trainable is not None}"] = (
            ravel_pytree(fo)[0], ravel_pytree(jax.grad(mlp_loss)(adapted, query))[0])
    return out

  assert_pairs_close(computed(params), rtol=1e-12, atol=1e-14)


def test_frozen_leaves_stay_and_are_not_differentiated_in_the_inner_loop():
  params = {**mlp_params(), "table": jnp.arange(3, dtype=jnp.int32)}
  support, query = mlp_task()
  trainable = {**HEAD_ONLY, "table": False}

  def loss(p, part):
    return mlp_loss(p, part) + 0.0 * jnp.sum(p["table"])

  # An integer leaf makes jax.grad raise, so this only runs if the inner loop
  # differentiates the trainable leaves alone.
  adapted, value = jax.jit(lambda p: (
      meta.adapt(loss, p, support, 0.3, 2, trainable=trainable),
      meta.maml_loss(loss, p, support, query, 0.3, 2, trainable=trainable)))(params)
  for frozen in ("hidden", "table"):
    jax.tree.map(np.testing.assert_array_equal, adapted[frozen], params[frozen])
  assert adapted["table"].dtype == jnp.int32
  assert not np.allclose(adapted["head"]["w"], params["head"]["w"])
  np.testing.assert_allclose(value, mlp_loss(adapted, query), rtol=1e-12)


def test_zero_steps_is_identity():
  params = mlp_params()
  support, query = mlp_task()
  adapted = meta.adapt(mlp_loss, params, support, 0.3, 0)
  jax.tree.map(np.testing.assert_array_equal, adapted, params)
  np.testing.assert_allclose(
      meta.maml_loss(mlp_loss, params, support, query, 0.3, 0),
      mlp_loss(params, query), rtol=0)


@pytest.mark.parametrize("trainable, scalar_lr", [(None, True), (HEAD_ONLY, False)])
def test_remat_unroll_and_jit_give_the_same_values_and_gradients(trainable, scalar_lr):
  # Gradients w.r.t. θ and α (per-parameter α: Meta-SGD; HEAD_ONLY: the frozen
  # hidden layer is a constant of the recomputed loop and gets its cotangent).
  params = mlp_params()
  support, query = mlp_task()
  rates = 0.3 if scalar_lr else jax.tree.map(lambda p: 0.2 + 0.1 * jnp.tanh(p), params)

  def value_and_grad(remat, unroll):
    return jax.value_and_grad(lambda p, lr: meta.maml_loss(
        mlp_loss, p, support, query, lr, 4, trainable=trainable, remat=remat,
        unroll=unroll), argnums=(0, 1))

  reference = ravel_pytree(jax.jit(value_and_grad(False, 1))(params, rates))[0]
  for remat, unroll, wrap in ((True, 1, jax.jit), ("steps", 1, None), (False, 1, None),
                              (False, True, jax.jit), (False, 2, jax.jit),
                              ("recompute", 1, jax.jit), ("recompute", 1, None)):
    fn = value_and_grad(remat, unroll)
    fn = fn if wrap is None else wrap(fn)
    np.testing.assert_allclose(ravel_pytree(fn(params, rates))[0], reference, rtol=1e-12,
                               atol=1e-14, err_msg=f"remat={remat} unroll={unroll} "
                                                   f"jit={wrap}")


def residual_bytes(remat, num_steps):
  """Bytes reverse mode keeps for ∇_θ of the MAML loss (the leaves of its VJP)."""
  params = mlp_params()
  support, query = mlp_task()
  _, pullback = jax.vjp(lambda p: meta.maml_loss(
      mlp_loss, p, support, query, 0.3, num_steps, remat=remat), params)
  return sum(leaf.nbytes for leaf in jax.tree.leaves(pullback))


def id_loss(params, part):
  """Squared error of a per-id weight looked up by integer ids inside the loss."""
  pred = params["w"][part["ids"]] * part["x"] + params["b"]
  return jnp.mean((pred - part["y"]) ** 2)


def test_recompute_under_vmap_with_integer_ids_in_the_inner_step():
  # The inner step closes over each task's batched data, floats and integer
  # ids: eager and jitted gradients of a vmap over tasks match remat "none".
  rng = np.random.default_rng(4)
  params = {"w": jnp.asarray(rng.normal(size=5)), "b": jnp.asarray(0.1)}

  def part(rows):
    return {"ids": jnp.asarray(rng.integers(0, 5, (3, rows))),
            "x": jnp.asarray(rng.normal(size=(3, rows))),
            "y": jnp.asarray(rng.normal(size=(3, rows)))}

  support, query = part(4), part(2)

  def value_and_grad(remat):
    return jax.value_and_grad(lambda p: jnp.sum(jax.vmap(
        lambda s, q: meta.maml_loss(id_loss, p, s, q, 0.3, 3, remat=remat))(support, query)))

  reference = ravel_pytree(value_and_grad("none")(params))[0]
  for wrap in (None, jax.jit):
    fn = value_and_grad("recompute")
    fn = fn if wrap is None else wrap(fn)
    np.testing.assert_allclose(ravel_pytree(fn(params))[0], reference, rtol=1e-12,
                               atol=1e-14, err_msg=f"jit={wrap}")


def test_recompute_keeps_the_same_residuals_for_any_number_of_steps():
  # "steps" keeps one carry per step; "recompute" keeps only the loop's input.
  assert residual_bytes("steps", 8) > residual_bytes("steps", 3)
  assert residual_bytes("recompute", 8) == residual_bytes("recompute", 3)
  assert residual_bytes("recompute", 8) < residual_bytes("steps", 8)


def test_reptile_direction_and_model_average_on_quadratic():
  """With L_t(θ) = ½(θ − c_t)ᵀA(θ − c_t), φ_t = c_t + M²(θ − c_t), M = I − αA."""
  prob = quadratic_problem()
  centers = np.random.default_rng(3).normal(size=(3, DIM))
  m2 = np.linalg.matrix_power(np.eye(DIM) - 0.2 * prob["A"], 2)
  phis = centers + (prob["theta"] - centers) @ m2.T
  tasks = {"center": jnp.asarray(centers),
           "hessian": jnp.broadcast_to(jnp.asarray(prob["A"]), (3, DIM, DIM))}

  @jax.jit
  def computed(theta):
    first_task = jax.tree.map(lambda x: x[0], tasks)
    average = lambda w: join(meta.model_average(  # noqa: E731
        quadratic_loss, theta, tasks, 0.2, 2, weights=w))
    return {
        "direction": join(meta.reptile_direction(quadratic_loss, theta, first_task,
                                                 0.2, 2)),
        "average": average(None),
        "average of tasks 0, 2": average(jnp.array([1.0, 0.0, 1.0])),
        "average of no task": average(jnp.zeros(3)),
    }

  actual = computed(split(jnp.asarray(prob["theta"])))
  assert_pairs_close({
      "direction": (actual["direction"], prob["theta"] - phis[0]),
      "average": (actual["average"], phis.mean(0)),
      "average of tasks 0, 2": (actual["average of tasks 0, 2"],
                                (phis[0] + phis[2]) / 2),
      "average of no task": (actual["average of no task"], prob["theta"]),
  }, rtol=1e-12, atol=1e-14)


def test_task_mean_ignores_non_finite_padded_tasks():
  values = {"a": jnp.array([1.0, jnp.nan, 3.0]), "b": jnp.array([[1.0], [jnp.inf], [2.0]])}
  mean = meta.task_mean(values, jnp.array([1.0, 0.0, 1.0]))
  np.testing.assert_allclose(mean["a"], 2.0)
  np.testing.assert_allclose(mean["b"], [1.5])
  np.testing.assert_allclose(meta.task_mean(values, jnp.zeros(3))["a"], 0.0)
  np.testing.assert_allclose(meta.task_mean({"a": jnp.array([1.0, 2.0])})["a"], 1.5)


def test_meta_sgd_init_and_trainable_mask():
  params = mlp_params()
  rates = meta.meta_sgd_init(params, 0.05)
  for rate, param in zip(jax.tree.leaves(rates), jax.tree.leaves(params)):
    assert rate.shape == param.shape and rate.dtype == param.dtype
    np.testing.assert_array_equal(rate, 0.05)
  assert meta.trainable_mask(params, "^head/") == HEAD_ONLY
  by_rank = meta.trainable_mask(params, lambda path, leaf: leaf.ndim == 1)
  assert by_rank == {"hidden": {"w": False, "b": True}, "head": {"w": False, "b": True}}
  assert meta.trainable_mask([jnp.ones(2), jnp.ones(3)], "^1$") == [False, True]


def test_meta_sgd_rates_adapt_each_entry_at_its_own_rate():
  params = {"w": jnp.array([1.0, 1.0])}
  loss = lambda p, part: 0.5 * jnp.sum(p["w"] ** 2)  # noqa: E731  gradient = w
  adapted = meta.adapt(loss, params, None, {"w": jnp.array([0.5, 0.25])}, 1)
  np.testing.assert_allclose(adapted["w"], [0.5, 0.75])


@pytest.mark.parametrize("num_steps,match", [
    (-1, "non-negative, got -1"),
    (1.5, "got 1.5 of type float"),
    ("2", "got '2' of type str"),
    (True, "of type bool"),
    (jnp.array(2), "of type"),
])
def test_bad_num_steps(num_steps, match):
  params = mlp_params()
  support, _ = mlp_task()
  with pytest.raises(ValueError, match=f"num_steps.*{match}"):
    meta.adapt(mlp_loss, params, support, 0.1, num_steps)


def test_numpy_integer_num_steps_is_accepted():
  params = mlp_params()
  support, _ = mlp_task()
  a, b = jax.jit(lambda p: (meta.adapt(mlp_loss, p, support, 0.1, np.int64(2)),
                            meta.adapt(mlp_loss, p, support, 0.1, 2)))(params)
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_bad_trainable_and_inner_lr():
  params = mlp_params()
  support, query = mlp_task()
  with pytest.raises(ValueError, match="trainable must have the pytree structure"):
    meta.adapt(mlp_loss, params, support, 0.1, 1, trainable={"head": True})
  bad_leaf = {**HEAD_ONLY, "head": {"w": jnp.array(True), "b": True}}
  with pytest.raises(ValueError, match=r"trainable\['head/w'\] must be a Python bool"):
    meta.adapt(mlp_loss, params, support, 0.1, 1, trainable=bad_leaf)
  with pytest.raises(ValueError, match="inner_lr must be a scalar or a pytree"):
    meta.maml_loss(mlp_loss, params, support, query, {"head": 0.1}, 1)
  with pytest.raises(ValueError, match="inner_lr must be a scalar or a pytree"):
    meta.adapt(mlp_loss, params, support, jnp.ones(3), 1)
  rates = meta.meta_sgd_init(params, 0.1)
  rates["hidden"]["w"] = jnp.ones(3)
  with pytest.raises(ValueError, match=r"inner_lr\['hidden/w'\] has shape \(3,\)"):
    meta.adapt(mlp_loss, params, support, rates, 1)
  with pytest.raises(ValueError, match="trainable leaf 'n' has dtype int"):
    meta.adapt(lambda p, part: 0.0, {"n": jnp.arange(2)}, None, 0.1, 1)
  with pytest.raises(ValueError, match="inner_lr must be a scalar, got shape"):
    meta.meta_sgd_init(params, jnp.ones(2))
  with pytest.raises(ValueError, match="remat must be a bool or one of .*got 'Recompute'"):
    meta.maml_loss(mlp_loss, params, support, query, 0.1, 2, remat="Recompute")
  with pytest.raises(ValueError, match="invalid regex"):
    meta.trainable_mask(params, "(")
  with pytest.raises(ValueError, match="regex string or a callable"):
    meta.trainable_mask(params, 3)


def test_recompute_uses_no_deprecated_jax_api():
  # "recompute" traces the step (jax.make_jaxpr) and evaluates it
  # (jax.core.eval_jaxpr): a deprecation of either must fail here first.
  params = mlp_params()
  support, query = mlp_task()
  with warnings.catch_warnings():
    warnings.simplefilter("error", DeprecationWarning)
    jax.grad(lambda p: meta.maml_loss(mlp_loss, p, support, query, 0.3, 3,
                                      remat="recompute"))(params)


def _assert_fresh_python_runs(code: str) -> None:
  """Runs ``code`` in a fresh interpreter (nothing imported yet) and asserts it exits 0."""
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                        text=True, check=False)
  assert proc.returncode == 0, proc.stderr


def test_import_meta_loads_neither_flax_nor_the_rest_of_jaxrec():
  _assert_fresh_python_runs(
      "import jaxrec.meta, sys; assert not any(m.startswith(('flax', 'jaxrec.data', "
      "'jaxrec.metrics', 'jaxrec.baselines')) for m in sys.modules), "
      "sorted(m for m in sys.modules if m.startswith(('flax', 'jaxrec')))")


def test_jaxrec_subpackages_load_on_first_access():
  _assert_fresh_python_runs(
      "import sys, jaxrec; assert 'jaxrec.models' not in sys.modules; "
      "assert jaxrec.models.__name__ == 'jaxrec.models'; "
      "assert set(jaxrec.__all__) <= set(dir(jaxrec)); "
      "assert not hasattr(jaxrec, 'nonexistent')")


def test_type_hints_are_packaged():
  pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
  assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["jaxrec"]
  assert (ROOT / "jaxrec" / "py.typed").is_file()


@pytest.mark.parametrize("package", ["jaxrec", "jaxrec.meta", "jaxrec.data", "jaxrec.models",
                                     "jaxrec.metrics", "jaxrec.baselines", "jaxrec.text",
                                     "jaxrec.data.readers"])
def test_packages_re_export_through_all(package):
  """One re-export style: every package lists its public names in ``__all__``."""
  module = importlib.import_module(package)
  assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
  for name in module.__all__:
    assert getattr(module, name) is not None, name
