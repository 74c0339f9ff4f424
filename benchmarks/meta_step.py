r"""Throughput, compile time and memory of the jitted meta-step on MeLU, and the
throughput of the final jaxrec methods' training steps.

  python benchmarks/meta_step.py                       # the full grid (long)
  python benchmarks/meta_step.py --quick               # smoke run, small tables
  python benchmarks/meta_step.py --batch_sizes 256 --algorithms maml5,maml1

The model is ``jaxrec.models.melu`` on the random feature tables of
``benchmarks/workload.py`` with MovieLens-1M vocabularies (items: rate 6, genre 25
≤6-hot, director 2186 ≤3-hot, actor 8030 ≤10-hot; users: gender 2, age 7,
occupation 21, zip 3402; 3706 items, 6040 users), 32-wide embeddings (a
256-wide MLP input), hidden layers (64, 64).
The final methods (``--algorithms foldin_ml100k,foldin_lastfm``, ``FINAL_STEPS``) are
their configs' models and training steps (``jaxrec.train_step.make_train_step``:
MAML through the exact ridge fold-in, the set encoder and MSE; or through the
implicit fold-in over the catalogue with the full-catalogue softmax) over the same
item and user tables with item ids, so that each is timed on one problem beside
MeLU's.
Episodes have support sizes uniform in [3, 90] and 10 query ratings. The step
is ``jaxrec.meta.make_meta_step`` with Adam as the outer optimizer and the
inner loop unrolled (``unroll=True``; rolled for the remat modes of
``step_spec``), jitted with the batch's tasks sharded
over the ``--devices`` (``jaxrec.parallel.jit_sharded``; all local devices by
default, one on a CPU).

For every configuration (algorithm, batch size B, bucketing) the step is
compiled for each padded support length S of the buckets (``"pow2"``: 8, 16,
32, 64, 90; an integer n: the n quantiles of the support sizes; ``none``: 90
only), run ``--warmup`` times, then timed ``--reps``
times; the median seconds per batch t_S gives the epoch throughput

  tasks/s = B / Σ_S f_S t_S,

with f_S the fraction of episodes in bucket S (full batches; an epoch's last
partial batch per bucket is ignored). ``tasks_per_s_cpu`` divides by the
process CPU time over the cores instead (less sensitive to other processes on
a shared machine). ``flops_per_task`` is XLA's count (``cost_analysis``; with
the loop unrolled it covers every inner step), and ``achieved_gflops`` compares
it with the measured peak (``machine.peak_fp32_gflops``, a large fp32 matmul)
as a roofline; ``peak_memory_bytes`` is the largest bucket's compiled step's
``memory_analysis`` (temp + arguments). The memory rows (``step_memory``) are the compiled step's
``memory_analysis`` at B ≤ 256 padded to 90, for second-order MAML under each
remat mode and first-order MAML (``--memory_steps``), under each of
``--schedulers``. The output is one JSON object on stdout (and ``--out``);
markdown tables go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import shlex
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from benchmarks import workload  # noqa: E402
from experiments.configs import foldin_lastfm, foldin_ml100k  # noqa: E402
from jaxrec import meta, models, parallel, train, train_step  # noqa: E402
from jaxrec.data.episodes import Episodes  # noqa: E402


# The steps timed by default (names as in ``step_spec``).
STEPS = ("maml1", "maml5", "fomaml1", "fomaml5", "reptile5", "maml1w", "maml5w")
# The final jaxrec methods (the configs ``python -m experiments.run_all --final``
# names), timed as their training steps: step name -> config module.
FINAL_STEPS = {"foldin_ml100k": foldin_ml100k, "foldin_lastfm": foldin_lastfm}
# The bucketed mode compare.py and the README report: 12 quantile buckets (for
# support sizes uniform in [3, 90] about 3 padded rows per task, against about
# 11 with "pow2").
BUCKETED = "12"


def step_spec(name: str) -> tuple[str, int, bool, str]:
  """``(make_meta_step algorithm, inner steps K, weight space, remat)`` of a step
  name: ``maml<K>``, ``fomaml<K>``, ``reptile<K>``, or ``maml<K>w`` (MAML with the
  inner loop on the first layer's weights instead of its output rows), MAML's
  optionally followed by ``:steps`` or ``:recompute`` (the ``remat`` mode, see
  ``jaxrec.meta.adapt``; ``"none"`` without).

  Raises:
    ValueError: for any other name.
  """
  match = re.fullmatch(r"(maml|fomaml|reptile)(\d+)(w?)(?::(steps|recompute))?", name)
  if not match or ((match[3] or match[4]) and match[1] != "maml"):
    raise ValueError(f"unknown step {name!r}: expected maml<K>, fomaml<K>, reptile<K> "
                     f"or maml<K>w, MAML's optionally with :steps or :recompute")
  return match[1], int(match[2]), bool(match[3]), match[4] or "none"


def bucket_mode(text: str) -> str | int | None:
  """``workload.bucket_batches``' ``buckets`` for a ``--buckets`` mode: ``"none"`` -> None,
  ``"pow2"``, or a positive integer n (n quantile buckets).

  Raises:
    ValueError: for any other text.
  """
  if text in ("none", "pow2"):
    return None if text == "none" else text
  if not (text.isdigit() and int(text) > 0):
    raise ValueError(f"unknown bucket mode {text!r}: pow2, none or a positive integer")
  return int(text)


def make_step(model: models.RecModel, name: str, *, microbatches: int = 1,
              unroll: int | bool | None = None, donate: bool = True) -> Callable:
  """The jitted meta-step ``step_spec(name)`` for ``model`` (Adam outer updates),
  over the batch in ``microbatches`` slices, with the inner loop's ``lax.scan``
  unrolled by ``unroll`` (None: fully without remat, rolled with it, as
  checkpoints need).

  The weight-space steps hand ``make_meta_step`` the model's loss as a plain
  ``StagedLoss`` (not a ``LinearInputLoss``), so ``maml_loss`` adapts the
  first layer's weights: the same maths, the other implementation.
  """
  algorithm, num_steps, weight_space, remat = step_spec(name)
  kwargs = {} if algorithm == "reptile" else {"remat": remat}
  loss = model.loss
  if weight_space:
    loss = models.StagedLoss(prepare=loss.prepare, head=loss.head,
                             prepare_reads=loss.prepare_reads)
  if unroll is None:
    unroll = True if remat == "none" else 1
  return meta.make_meta_step(algorithm, loss, optax.adam(workload.OUTER_LR),
                             inner_lr=workload.INNER_LR, num_steps=num_steps,
                             trainable=model.adapt_mask, microbatches=microbatches,
                             unroll=unroll, donate=donate, **kwargs)


def final_step(name: str, user: dict[str, np.ndarray], item: dict[str, np.ndarray],
               vocab: dict[str, int]) -> tuple[Callable, Callable[[], meta.MetaState]]:
  """``(jitted step, () -> initial state)`` of the final method ``FINAL_STEPS[name]``:
  its config's model over ``user`` / ``item`` (given item ids ``1..I``) and its
  training step (``jaxrec.train_step.make_train_step``, the config's optimizer;
  random initialisation, as the warm start does not change the step's cost)."""
  config = FINAL_STEPS[name].get_config()
  item = {**item, "item_id": np.arange(1, len(item["rate"]) + 1, dtype=np.int32)}
  tables = types.SimpleNamespace(user_table=user, item_table=item,
                                 vocab_sizes={**vocab, "item_id": len(item["rate"]) + 1})
  model = train.model_of(config, tables)
  return train_step.make_train_step(config, model), lambda: train.init_state(config, model)


def init_state(model: models.RecModel, dtype: Any = jnp.float32) -> meta.MetaState:
  """Initial ``MetaState`` of ``model`` with its parameters cast to ``dtype``."""
  params = jax.tree.map(lambda p: p.astype(dtype), model.init(jax.random.key(0)))
  return meta.init_meta_state(params, optax.adam(workload.OUTER_LR))


def time_step(step: Callable, state: meta.MetaState, batch: Any, *, warmup: int,
              reps: int) -> dict[str, float]:
  """Compiles ``step`` for ``batch`` (already placed on the devices) and times it.

  Returns:
    ``{"compile_s", "wall_s" (median seconds per call), "cpu_s" (median process
    CPU seconds per call), "flops" (XLA's count for the whole batch; a loop body
    is counted once), "memory_bytes" (the compiled step's ``memory_analysis``:
    temp + arguments)}``.
  """
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  for _ in range(warmup):
    state, _ = compiled(state, batch)
  jax.block_until_ready(state)
  wall, cpu = [], []
  for _ in range(reps):
    w0, c0 = time.perf_counter(), time.process_time()
    state, _ = compiled(state, batch)
    jax.block_until_ready(state)
    wall.append(time.perf_counter() - w0)
    cpu.append(time.process_time() - c0)
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  memory = compiled.memory_analysis()
  return {"compile_s": compile_s, "wall_s": float(np.median(wall)),
          "cpu_s": float(np.median(cpu)), "flops": float(cost.get("flops", 0.0)),
          "memory_bytes": memory.temp_size_in_bytes + memory.argument_size_in_bytes}


def bench_config(model: models.RecModel, episodes: Episodes, name: str, *,
                 batch_size: int, buckets: str | int | None, dtype: Any, warmup: int,
                 reps: int, mesh: jax.sharding.Mesh,
                 tables: tuple[dict, dict, dict] | None = None) -> dict[str, Any]:
  """Epoch throughput of one configuration (see the module docstring), the
  batch's tasks sharded over ``mesh``: a MeLU step of ``model`` (``step_spec``),
  or a final method's (``FINAL_STEPS``, over ``tables`` = (user, item, vocab);
  float32 only)."""
  if name in FINAL_STEPS:
    step_fn, fresh_state = final_step(name, *tables)
  else:
    step_fn, fresh_state = make_step(model, name), lambda: init_state(model, dtype)
  step = parallel.jit_sharded(step_fn, mesh)
  cores = os.cpu_count() or 1
  per_bucket, wall, cpu, compile_s = [], 0.0, 0.0, 0.0
  for length, fraction, batch in workload.bucket_batches(episodes, batch_size, buckets):
    # a fresh state each time: the previous one's buffers were donated
    timing = time_step(step, parallel.replicate(fresh_state(), mesh),
                       parallel.shard_batch(batch, mesh), warmup=warmup, reps=reps)
    wall += fraction * timing["wall_s"]
    cpu += fraction * timing["cpu_s"] / cores
    compile_s += timing["compile_s"]
    per_bucket.append({"support_len": length, "fraction": fraction, **timing})
  algorithm, num_steps = (("maml", 0) if name in FINAL_STEPS else step_spec(name)[:2])
  # cost_analysis counts one device's share of the sharded step
  flops = sum(b["fraction"] * b["flops"] for b in per_bucket) * mesh.size / batch_size
  return {"name": name, "algorithm": algorithm, "num_steps": num_steps,
          "batch_size": batch_size, "buckets": str(buckets or "none"),
          "dtype": jnp.dtype(dtype).name, "tasks_per_s": batch_size / wall,
          "tasks_per_s_cpu": batch_size / cpu, "compile_s": compile_s,
          "flops_per_task": flops, "achieved_gflops": flops * batch_size / wall / 1e9,
          "peak_memory_bytes": max(b["memory_bytes"] for b in per_bucket),
          "buckets_detail": per_bucket}


# XLA:CPU compile options of the memory rows' schedulers: its default
# (concurrency-optimised) and its memory-optimised instruction scheduler.
SCHEDULERS = {"default": {},
              "memory": {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}}


def scheduler_options(scheduler: str) -> dict[str, str]:
  """The compile options ``SCHEDULERS[scheduler]``.

  Raises:
    ValueError: for an unknown ``scheduler``, or ``"memory"`` off the CPU.
  """
  if scheduler not in SCHEDULERS:
    raise ValueError(f"unknown scheduler {scheduler!r}: expected one of {list(SCHEDULERS)}")
  if scheduler != "default" and jax.default_backend() != "cpu":
    raise ValueError(f"scheduler {scheduler!r} is an XLA:CPU option; this backend is "
                     f"{jax.default_backend()}")
  return SCHEDULERS[scheduler]


def step_memory(model: models.RecModel, batch: Any, name: str, microbatches: int = 1,
                scheduler: str = "default") -> dict[str, Any]:
  """``memory_analysis()`` of the compiled step: temp, argument and their sum (bytes).

  The inner loop is a rolled ``lax.scan`` (``unroll=1``), the lean setting of
  every step (unrolled, the first-order step takes about 13% more). The step
  is compiled with ``scheduler_options(scheduler)``.
  """
  step = make_step(model, name, microbatches=microbatches, unroll=1)
  mem = (step.lower(init_state(model), jax.device_put(batch))
         .compile(compiler_options=scheduler_options(scheduler)).memory_analysis())
  return {"step": name, "remat": step_spec(name)[3], "microbatches": microbatches,
          "scheduler": scheduler, "temp_bytes": mem.temp_size_in_bytes,
          "argument_bytes": mem.argument_size_in_bytes,
          "total_bytes": mem.temp_size_in_bytes + mem.argument_size_in_bytes}


def peak_matmul_gflops(n: int, reps: int = 5) -> float:
  """Measured fp32 GFLOP/s of an ``[n, n] @ [n, n]`` product (2 n³ FLOPs), median."""
  a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  matmul(a).block_until_ready()
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    matmul(a).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * n ** 3 / float(np.median(times)) / 1e9


def machine_info(peak_n: int) -> dict[str, Any]:
  """CPU, cores, load average, JAX version/backend and the measured peak GFLOP/s."""
  return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
          "load_avg": os.getloadavg()[0], "jax": jax.__version__,
          "backend": jax.default_backend(),
          "peak_fp32_gflops": peak_matmul_gflops(peak_n)}


def markdown(results: Sequence[dict[str, Any]]) -> str:
  """A markdown table of the throughput results."""
  lines = ["| step | B | buckets | dtype | tasks/s | tasks/s (CPU time) | compile s | "
           "MiB (largest bucket) |", "|---|---|---|---|---|---|---|---|"]
  lines += [f"| {r['name']} | {r['batch_size']} | {r['buckets']} | {r['dtype']} | "
            f"{r['tasks_per_s']:.0f} | {r['tasks_per_s_cpu']:.0f} | {r['compile_s']:.1f} | "
            f"{r['peak_memory_bytes'] / 2**20:.1f} |" for r in results]
  return "\n".join(lines)


def memory_markdown(rows: Sequence[dict[str, Any]]) -> str:
  """A markdown table of the memory rows (MiB, and the ratio to first-order MAML
  with the same K, microbatches and scheduler); empty without rows."""
  if not rows:
    return ""
  setting = lambda r: (step_spec(r["step"])[1], r["microbatches"], r["scheduler"])  # noqa: E731
  first_order = {setting(r): r["total_bytes"] for r in rows
                 if step_spec(r["step"])[0] == "fomaml"}
  lines = ["", "", "| step | microbatches | scheduler | MiB | / first order |",
           "|---|---|---|---|---|"]
  for r in rows:
    base = first_order.get(setting(r))
    ratio = f"{r['total_bytes'] / base:.2f}×" if base else "–"
    lines.append(f"| {r['step']} | {r['microbatches']} | {r['scheduler']} | "
                 f"{r['total_bytes'] / 2**20:.1f} | {ratio} |")
  return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="smoke run: tables, vocabularies and support sizes shrunk "
                           "(S ≤ 16); defaults B=8, maml1 and reptile5, pow2, no bf16, "
                           "one rep")
  parser.add_argument("--batch_sizes", default=None,
                      help="comma-separated batch sizes (default 32,256,1024)")
  parser.add_argument("--algorithms", default=None,
                      help=f"comma-separated steps (step_spec, or a final method of "
                           f"FINAL_STEPS: {', '.join(FINAL_STEPS)}; default "
                           f"{','.join(STEPS)})")
  parser.add_argument("--buckets", default=None,
                      help="comma-separated bucket modes: pow2, none, or an integer n "
                           f"(n quantile buckets) (default {BUCKETED},none; quick pow2)")
  parser.add_argument("--bf16", default=None,
                      help="steps also run in bfloat16 at the largest batch size "
                           "≤ 256, in the first bucket mode (default maml1,maml5; '' "
                           "for none)")
  parser.add_argument("--no_memory", action="store_true",
                      help="skip the memory_analysis of second-order MAML under each "
                           "remat mode and of first-order MAML (--memory_steps), and "
                           "of recompute and first order in 8 microbatches")
  parser.add_argument("--memory_steps", default=None,
                      help="comma-separated inner-step counts of the memory rows "
                           "(default 1,5; quick 1)")
  parser.add_argument("--schedulers", default=None,
                      help="comma-separated XLA schedulers the memory rows are compiled "
                           f"with ({', '.join(SCHEDULERS)}; default all on a CPU, "
                           "quick default)")
  parser.add_argument("--warmup", type=int, default=None, help="default 2 (quick 1)")
  parser.add_argument("--reps", type=int, default=None, help="default 5 (quick 1)")
  parser.add_argument("--devices", type=int, default=0,
                      help="devices the batch's tasks are sharded over (default 0: all)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=None, help="also write the JSON here")
  return parser.parse_args(argv)


def main(argv: Sequence[str]) -> dict[str, Any]:
  """Runs the benchmark and returns (and prints) the JSON report."""
  args = parse_args(argv)
  split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
  all_schedulers = ",".join(SCHEDULERS) if jax.default_backend() == "cpu" else "default"
  defaults = (dict(batch_sizes="8", algorithms="maml1,reptile5", buckets="pow2", bf16="",
                   memory_steps="1", schedulers="default", warmup=1, reps=1)
              if args.quick else
              dict(batch_sizes="32,256,1024", algorithms=",".join(STEPS),
                   buckets=f"{BUCKETED},none", bf16="maml1,maml5", memory_steps="1,5",
                   schedulers=all_schedulers, warmup=2, reps=5))
  opts = {k: v if getattr(args, k) is None else getattr(args, k)
          for k, v in defaults.items()}
  batch_sizes = [int(b) for b in split(opts["batch_sizes"])]
  names, bf16 = split(opts["algorithms"]), split(opts["bf16"])
  bucket_modes, warmup, reps = split(opts["buckets"]), opts["warmup"], opts["reps"]
  scale, max_support, peak_n = ((workload.QUICK_SCALE, 16, 256) if args.quick
                                else (1, 90, 2048))
  num_tasks = max(batch_sizes) * 20  # ≈ 1.4 B episodes in the smallest pow2 bucket
  for name in bf16 + [n for n in names if n not in FINAL_STEPS]:
    step_spec(name)
  for mode in bucket_modes:
    bucket_mode(mode)
  for scheduler in split(opts["schedulers"]):
    scheduler_options(scheduler)
  mesh = parallel.make_mesh(args.devices or None)
  user, item, vocab = workload.ml1m_tables(args.seed, scale)
  model = models.melu(user, item, vocab)
  episodes = workload.synthetic_episodes(num_tasks, num_users=len(user["zip"]),
                                num_items=len(item["rate"]), seed=args.seed,
                                max_support=max_support)
  report = {"machine": machine_info(peak_n),
            "setup": {"quick": args.quick, "num_items": len(item["rate"]),
                      "num_users": len(user["zip"]), "vocab_sizes": vocab,
                      "embed_dim": 32, "hidden": [64, 64],
                      "support_sizes": [3, max_support], "query_size": 10,
                      "warmup": warmup, "reps": reps, "devices": mesh.size,
                      "mean_support": float(episodes.support_sizes.mean())},
            "results": []}
  run = lambda name, b, buckets, dtype: bench_config(  # noqa: E731
      model, episodes, name, batch_size=b, buckets=bucket_mode(buckets), dtype=dtype,
      warmup=warmup, reps=reps, mesh=mesh, tables=(user, item, vocab))
  for b in batch_sizes:
    for name in names:
      for buckets in bucket_modes:
        report["results"].append(run(name, b, buckets, jnp.float32))
        print(markdown(report["results"][-1:]).splitlines()[-1], file=sys.stderr)
  bf16_batch = max([b for b in batch_sizes if b <= 256], default=min(batch_sizes))
  for name in bf16:
    report["results"].append(run(name, bf16_batch, bucket_modes[0], jnp.bfloat16))
  if not args.no_memory:
    full = workload.bucket_batches(episodes, min(batch_sizes[-1], 256), None)[0][2]
    steps = [int(k) for k in split(opts["memory_steps"])]
    rows = [(name, 1) for k in steps for name in (
        f"maml{k}", f"maml{k}:steps", f"maml{k}:recompute", f"maml{k}w:steps",
        f"fomaml{k}")]
    rows += [(f"maml{steps[-1]}:recompute", 8), (f"fomaml{steps[-1]}", 8)]
    report["memory"] = [step_memory(model, full, *row, scheduler=scheduler)
                        for scheduler in split(opts["schedulers"]) for row in rows]
  report["headline"] = {
      f"{r['name']}_b{r['batch_size']}_{r['buckets']}": round(r["tasks_per_s"], 1)
      for r in report["results"] if r["dtype"] == "float32" and r["name"] in
      ("maml1", "maml5", "maml1w", "maml5w")}
  emit(report, markdown(report["results"]) + memory_markdown(report.get("memory", [])),
       args.out)
  return report


def emit(report: dict, table: str, out: str | None) -> None:
  """Prints the markdown ``table`` to stderr and ``report`` as JSON to stdout (and to
  the file ``out`` when given), with ``"source"``: the command line that made it
  (what ``python -m experiments.tables`` names under a performance table)."""
  text = json.dumps({"source": shlex.join(["python", *sys.argv]), **report}, indent=1)
  print(table, file=sys.stderr)
  print(text)
  if out:
    with open(out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main(sys.argv[1:])
