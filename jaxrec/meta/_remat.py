"""The inner loop's rematerialisation: what reverse mode keeps of it.

``REMAT_MODES``: ``"none"`` keeps every step's activations, ``"steps"`` wraps
each step in a ``jax.checkpoint`` (one carry per step), and ``"recompute"``
keeps only the loop's input (``recomputed_loop``: a custom VJP that recomputes
each step's input from it on the way back, for memory independent of the
number of steps). ``recomputed_loop`` traces the step once with
``jax.make_jaxpr`` and evaluates it with ``jax.core.eval_jaxpr``, turning the
traced values the step closes over into explicit inputs of the loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

REMAT_MODES = ("none", "steps", "recompute")


def check_remat(remat: Any) -> str:
  """Returns the inner loop's rematerialisation mode, one of ``REMAT_MODES``.

  ``False`` and ``True`` stand for ``"none"`` and ``"steps"`` (see
  ``jaxrec.meta.adapt``).

  Raises:
    ValueError: for any other value.
  """
  if isinstance(remat, bool):
    return "steps" if remat else "none"
  if isinstance(remat, str) and remat in REMAT_MODES:
    return remat
  raise ValueError(f"remat must be a bool or one of {REMAT_MODES}, got {remat!r}")


def checkpointed(step: Callable[[Any], Any], mode: str) -> Callable[[Any], Any]:
  """``step``, wrapped in ``jax.checkpoint`` unless ``mode`` is ``"none"``."""
  return step if mode == "none" else jax.checkpoint(step, prevent_cse=False)


def inner_loop(step: Callable[[Any], Any], carry: Any, length: int, mode: str,
               unroll: int | bool) -> Any:
  """``step`` applied ``length`` times to ``carry``: a ``lax.scan`` (of
  ``checkpointed`` steps, unrolled by ``unroll``), or ``recomputed_loop`` for
  ``"recompute"`` (which ignores ``unroll``)."""
  if mode == "recompute":
    return recomputed_loop(step, carry, length)
  step = checkpointed(step, mode)
  return lax.scan(lambda c, _: (step(c), None), carry, length=length, unroll=unroll)[0]


def recomputed_loop(step: Callable[[Any], Any], carry: Any, length: int) -> Any:
  """``step`` applied ``length`` times, whose reverse mode keeps only ``carry``.

  The backward pass visits the steps k = length − 1, …, 0 and recomputes each
  step's input c_k by k forward steps from c_0 = ``carry``, then pulls the
  cotangent back through that step: length (length − 1) / 2 more evaluations
  of ``step`` than checkpointing every step, for memory that does not grow
  with ``length``. ``step`` is traced once (``jax.make_jaxpr``); the traced
  values it closes over (support features, θ's frozen leaves, α, batched
  data) become explicit inputs of the loop, and the floating-point ones
  receive their accumulated cotangents. The loop has a custom VJP, so it
  supports reverse-mode differentiation once (not ``jax.jvp`` or second
  derivatives).
  """
  closed, out_shape = jax.make_jaxpr(step, return_shape=True)(carry)
  out_tree = jax.tree.structure(out_shape)
  traced = [isinstance(c, jax.core.Tracer) for c in closed.consts]
  inexact = [t and jnp.issubdtype(jnp.result_type(c), jnp.inexact)
             for t, c in zip(traced, closed.consts)]
  fixed = [None if t else c for t, c in zip(traced, closed.consts)]

  def explicit_step(c: Any, floats: list[jax.Array], others: list[jax.Array]) -> Any:
    floats, others = iter(floats), iter(others)
    consts = [next(floats) if f else next(others) if t else c
              for t, f, c in zip(traced, inexact, fixed)]
    return jax.tree.unflatten(
        out_tree, jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree.leaves(c)))

  floats = [c for c, f in zip(closed.consts, inexact) if f]
  others = [c for c, t, f in zip(closed.consts, traced, inexact) if t and not f]
  return _recomputed_run(explicit_step, length, carry, floats, others)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _recomputed_run(step: Callable[..., Any], length: int, carry: Any,
                    floats: list[jax.Array], others: list[jax.Array]) -> Any:
  """``step(·, floats, others)`` applied ``length`` times to ``carry``."""
  return lax.fori_loop(0, length, lambda _, c: step(c, floats, others), carry)


def _recomputed_run_fwd(step, length, carry, floats, others):
  """The loop's output, and its residuals: only its inputs."""
  return _recomputed_run(step, length, carry, floats, others), (carry, floats, others)


def _recomputed_run_bwd(step, length, residuals, cotangent):
  """Pulls ``cotangent`` back through steps length − 1, …, 0, recomputing the
  input of each from the loop's input; the float inputs' cotangents add up
  (the others' are ``float0`` zeros)."""
  start, floats, others = residuals

  def back(i, acc):
    carry_ct, floats_ct = acc
    carry = lax.fori_loop(0, length - 1 - i, lambda _, c: step(c, floats, others), start)
    grads = jax.vjp(lambda c, f: step(c, f, others), carry, floats)[1](carry_ct)
    return grads[0], jax.tree.map(jnp.add, floats_ct, grads[1])

  zeros = [jnp.zeros_like(f) for f in floats]
  carry_ct, floats_ct = lax.fori_loop(0, length, back, (cotangent, zeros))
  return carry_ct, floats_ct, [np.zeros(jnp.shape(o), jax.dtypes.float0) for o in others]


_recomputed_run.defvjp(_recomputed_run_fwd, _recomputed_run_bwd)
