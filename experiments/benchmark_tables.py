"""README tables and sentences of benchmark results (``benchmarks/results/<name>.json``,
the ``--out`` JSON of ``benchmarks/compare.py``, ``meta_step.py`` and
``recommend_latency.py``): throughput against PyTorch, FLOPs, memory and latency."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


def compare_table(data: Mapping[str, Any]) -> list[str]:
  """The PyTorch comparison table of ``benchmarks/compare.py``'s rows (tasks/s,
  jaxrec bucketed / torch ratios, memory MB = bytes / 2^20)."""
  lines = ["| inner steps | batch | torch per-task loop | torch.func vmap | jaxrec (pad to "
           "90) | jaxrec (12 buckets) | jaxrec, weight-space inner loop (12 buckets) | "
           "jaxrec / loop | jaxrec / torch.func | memory MB loop / func / jaxrec |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in data["rows"]:
    mem = " / ".join(f"{r[k] / 2**20:.0f}" for k in
                     ("loop_peak_rss_growth", "func_peak_rss_growth", "jaxrec_step_bytes"))
    lines.append(f"| {r['num_steps']} | {r['batch_size']} | {r['loop']:.0f} | "
                 f"{r['func']:.0f} | {r['jaxrec_none']:.0f} | {r['jaxrec_bucketed']:.0f} | "
                 f"{r['jaxrec_bucketed_weights']:.0f} | "
                 f"{r['jaxrec_bucketed'] / r['loop']:.1f}× | "
                 f"{r['jaxrec_bucketed'] / r['func']:.1f}× | {mem} |")
  return lines


STEP_NAMES = {"maml1": "MAML, 1 step", "maml5": "MAML, 5 steps",
              "fomaml1": "FOMAML, 1 step", "fomaml5": "FOMAML, 5 steps",
              "reptile5": "Reptile, 5 steps", "maml1w": "MAML, 1 step, weight-space loop",
              "maml5w": "MAML, 5 steps, weight-space loop",
              "foldin_ml100k": "final ML-100K method: MAML through the ridge fold-in",
              "foldin_lastfm": "final Last.fm method: MAML through the implicit fold-in, "
                               "catalogue softmax"}


def meta_step_table(data: Mapping[str, Any]) -> list[str]:
  """Throughput, XLA FLOPs per task, achieved GFLOP/s and compiled-step memory (MiB
  of the largest bucket, where the report has it) of ``meta_step.py``'s float32
  results, with the machine's measured peak."""
  peak = data["machine"]["peak_fp32_gflops"]
  lines = [f"(XLA's FLOP count per task; this CPU reached {peak:.0f} GFLOP/s on a large "
           "fp32 matmul in that run; MiB: the compiled step's temp + argument memory at "
           "the largest bucket)", "",
           "| step (12 buckets, batch 256) | tasks/s | MFLOP / task | GFLOP/s | MiB |",
           "|---|---|---|---|---|"]
  lines += [f"| {STEP_NAMES.get(r['name'], r['name'])} | {r['tasks_per_s']:,.0f} | "
            f"{r['flops_per_task'] / 1e6:.2f} | {r['achieved_gflops']:.0f} | "
            f"{_cell_mib(r.get('peak_memory_bytes'))} |"
            for r in data["results"] if r["dtype"] == "float32"]
  return lines


def _cell_mib(value: float | None) -> str:
  """``bytes / 2^20`` to one decimal, or – when not measured."""
  return "–" if value is None else f"{value / 2**20:.1f}"


def _tasks(data: Mapping[str, Any], name: str, batch_size: int = 256) -> float:
  """tasks/s of step ``name`` at ``batch_size`` (bucketed) in a ``meta_step.py`` report.

  Raises:
    ValueError: if the report has no such result.
  """
  for r in data["results"]:
    if (r["name"], r["batch_size"]) == (name, batch_size) and r["buckets"] != "none":
      return r["tasks_per_s"]
  raise ValueError(f"meta_step report: no bucketed result of {name!r} at batch "
                   f"{batch_size}")


def targets_sentence(compare: Mapping[str, Any], step: Mapping[str, Any]) -> list[str]:
  """The CPU targets (≥ 4,000 tasks/s at 1 step, ≥ 1,000 at 5, batch 256) against
  the compare run and the separate meta-step run (with its machine's measured
  peak, as the two runs may be of different machines), and the feature-space /
  weight-space ratio at 5 steps."""
  row = {(r["num_steps"], r["batch_size"]): r for r in compare["rows"]}
  one, five = row[1, 256], row[5, 256]
  return [f"Against the CPU targets: 1 step at batch 256 reaches "
          f"{one['jaxrec_bucketed']:,.0f} tasks/s in the compare run and "
          f"{_tasks(step, 'maml1'):,.0f} in the separate one (target ≥ 4,000), 5 steps "
          f"{five['jaxrec_bucketed']:,.0f} and {_tasks(step, 'maml5'):,.0f} (target ≥ "
          f"1,000); the separate run's machine reached "
          f"{step['machine']['peak_fp32_gflops']:.0f} GFLOP/s on a large fp32 matmul. "
          f"At 5 steps the feature-space inner loop is "
          f"{five['jaxrec_bucketed'] / five['jaxrec_bucketed_weights']:.1f}× faster than "
          f"the weight-space loop ({five['jaxrec_bucketed']:,.0f} against "
          f"{five['jaxrec_bucketed_weights']:,.0f} tasks/s)."]


MEMORY_ROWS = (("first order", "fomaml{k}", 1), ("second order, no remat", "maml{k}", 1),
               ('second order, remat `"steps"`', "maml{k}:steps", 1),
               ('second order, remat `"recompute"`', "maml{k}:recompute", 1),
               ("weight-space loop, `\"steps\"`", "maml{k}w:steps", 1),
               ('`"recompute"`, 8 microbatches', "maml{k}:recompute", 8),
               ("first order, 8 microbatches", "fomaml{k}", 8))


def _mib(data: Mapping[str, Any]) -> dict[tuple[str, int, str], float]:
  """Compiled-step MiB (``total_bytes / 2^20``) of a ``meta_step.py`` report's memory rows,
  by ``(step, microbatches, scheduler)``."""
  return {(r["step"], r["microbatches"], r["scheduler"]): r["total_bytes"] / 2**20
          for r in data["memory"]}


def memory_table(data: Mapping[str, Any]) -> list[str]:
  """Compiled-step MiB (default / memory-optimised scheduler) per inner-step count:
  a row per :data:`MEMORY_ROWS` entry present, and the ratio of ``"recompute"`` to
  first order (bold where ≤ 1.5×)."""
  mib = _mib(data)
  ks = sorted({int(re.match(r"\D+(\d+)", s)[1]) for s, _, _ in mib})
  schedulers = ("default", "memory")
  pair = lambda step, mb, k: [mib.get((step.format(k=k), mb, s)) for s in schedulers]  # noqa: E731
  lines = ["| inner steps | " + " | ".join(map(str, ks)) + " |", "|---" * (len(ks) + 1) + "|"]

  def add(label: str, cells: Sequence[str]) -> None:
    if any(c != "–" for c in cells):
      lines.append(f"| {label} | " + " | ".join(cells) + " |")

  for label, step, mb in MEMORY_ROWS[:4]:
    add(label, [_pair_cell(pair(step, mb, k), "{:.0f}") for k in ks])
  ratios = []
  for k in ks:
    rec, first = pair("maml{k}:recompute", 1, k), pair("fomaml{k}", 1, k)
    ratios.append(_pair_cell([a / b if a and b else None for a, b in zip(rec, first)],
                             "{:.2f}×", bold_below=1.5))
  add('`"recompute"` / first order', ratios)
  for label, step, mb in MEMORY_ROWS[4:]:
    add(label, [_pair_cell(pair(step, mb, k), "{:.0f}") for k in ks])
  return lines + ["", "(default scheduler / memory-optimised scheduler; – not measured.)"]


def _pair_cell(values: Sequence[float | None], form: str,
               bold_below: float | None = None) -> str:
  """``"a / b"`` of the non-missing values formatted by ``form`` (bold when
  ≤ ``bold_below``), ``"–"`` when all are missing."""
  if all(v is None for v in values):
    return "–"
  out = []
  for v in values:
    text = "–" if v is None else form.format(v)
    out.append(f"**{text}**" if bold_below is not None and v is not None
               and round(v, 2) <= bold_below else text)
  return " / ".join(out)


def memory_sentence(memory: Mapping[str, Any], remat: Mapping[str, Any]) -> list[str]:
  """At 5 steps: ``"recompute"`` and ``"steps"`` memory over first order under each
  scheduler, and the throughput of 5-step MAML without remat, with ``"steps"`` and
  with ``"recompute"`` from the remat timing run."""
  mib = _mib(memory)
  ratio = lambda step, s: mib[step, 1, s] / mib["fomaml5", 1, s]  # noqa: E731
  none, steps, rec = (_tasks(remat, n) for n in ("maml5", "maml5:steps", "maml5:recompute"))
  return [f"At 5 steps `\"recompute\"` is {ratio('maml5:recompute', 'memory'):.2f}× first "
          f"order under the memory-optimised scheduler (target ≤ 1.5×) and "
          f"{ratio('maml5:recompute', 'default'):.2f}× under the default one; "
          f"`\"steps\"` gives {ratio('maml5:steps', 'memory'):.2f}× and "
          f"{ratio('maml5:steps', 'default'):.2f}×. In the remat timing run "
          f"({remat['source']}) 5-step MAML ran at {none:,.0f} tasks/s without remat, "
          f"{steps:,.0f} with `\"steps\"` and {rec:,.0f} with `\"recompute\"` "
          f"({100 * (1 - rec / none):.0f}% slower than no remat)."]


def latency_sentence(runs: Sequence[Mapping[str, Any]]) -> list[str]:
  """``recommend_latency``'s p50/p99 per request and batched users/s, one
  sentence per run, named by the model and adapter its JSON records (with the
  runtime signals its requests carried, when any; with the method, dataset and
  seed and code of a run trained on real data)."""
  def name(data):
    prior = "".join(f", prior from the user's {field}" for field in data.get("user_fields", [])
                    if data.get("model") == "foldin")
    run = (f", the {data['method']} run on {data['dataset']} (seed {data['seed']}, "
           f"code {data['run_code_hash'][:12]})"
           if not data.get("dataset", "synthetic").startswith("synthetic") else "")
    return f"{data.get('model', 'melu')} ({data.get('adapter', 'gradient')} adapter{prior}){run}"

  def load(data):
    return (f", 1-minute load average {data['load_average_1min']}"
            if "load_average_1min" in data else "")

  def signals(data):
    return "".join(f" + {s}" for s in data.get("signals", []))

  def batch(data):
    only = " (ratings only)" if data.get("signals") else ""
    return (f"; batched {data['batch']} users at a time{only}, "
            f"{data['users_per_s']:,.0f} users/s" if "batch" in data else "")
  return [f"{name(data)}: one run on the same CPU{load(data)}, {data['support']} "
          f"ratings{signals(data)}, {data['num_steps']} inner steps, all "
          f"{data['num_items']:,} items scored, explanations: p50 {data['p50_ms']:.1f} ms, "
          f"p99 {data['p99_ms']:.1f} ms{batch(data)}." for data in runs]
