r"""jaxrec vs PyTorch MAML meta-steps on MeLU: one JSON object and a markdown table.

  python benchmarks/compare.py                    # K = 1, 5; B = 32, 256
  python benchmarks/compare.py --batch_sizes 32 --num_steps 1 --torch_threads 1

Runs, one process each and sequentially (so that every peak-memory figure is
its own): ``torch_reference.py`` in ``loop`` and ``func`` mode, and
``meta_step.py`` for exact second-order MAML with and without length
bucketing (``meta_step.BUCKETED``: 12 quantile buckets; and, bucketed, with the
inner loop on the first layer's weights instead of its output rows:
``maml<K>w``), on the same tables and episodes (shared seed). The table gives
tasks/s and the ratios jaxrec/loop and jaxrec/torch.func (jaxrec bucketed and
padded to 90). Memory: torch's peak resident-set growth; jaxrec's compiled
step ``memory_analysis`` (temp + arguments) of the padded batch. PyTorch runs
with ``--torch_threads`` intra-op threads (default: the number of cores).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks import meta_step, workload  # noqa: E402
from jaxrec import models  # noqa: E402


def run_json(script: str, args: Sequence[str], env: dict[str, str] | None = None
             ) -> dict[str, Any]:
  """Runs ``python benchmarks/<script> args`` and parses the JSON it prints last.

  Raises:
    ValueError: when the process fails or prints no JSON object.
  """
  proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                        text=True, env=env, check=False)
  start = proc.stdout.find("{")
  if proc.returncode or start < 0:
    raise ValueError(f"{script} {' '.join(args)} failed (exit {proc.returncode}): "
                     f"{proc.stderr[-2000:]}")
  return json.loads(proc.stdout[start:])


def jax_rows(num_steps: int, batch_sizes: Sequence[int], quick: bool
             ) -> list[dict[str, Any]]:
  """``meta_step.py`` results of ``maml<num_steps>`` (bucketed and padded) and of
  its weight-space variant ``maml<num_steps>w`` (bucketed)."""
  args = ["--algorithms", f"maml{num_steps},maml{num_steps}w", "--batch_sizes",
          ",".join(map(str, batch_sizes)), "--buckets",
          f"{'pow2' if quick else meta_step.BUCKETED},none", "--bf16", "",
          "--no_memory"] + (["--quick"] if quick else [])
  return run_json("meta_step.py", args)["results"]


def torch_row(mode: str, num_steps: int, batch_size: int, threads: int, quick: bool
              ) -> dict[str, Any]:
  """One ``torch_reference.py`` result."""
  args = ["--mode", mode, "--num_steps", str(num_steps), "--batch_size",
          str(batch_size), "--threads", str(threads)] + (["--quick"] if quick else [])
  return run_json("torch_reference.py", args)


def jax_memory(num_steps: int, batch_size: int, quick: bool) -> int:
  """Temp + argument bytes of the compiled padded ``maml<num_steps>`` step."""
  scale, support = (workload.QUICK_SCALE, 16) if quick else (1, 90)
  user, item, vocab = workload.ml1m_tables(0, scale)
  episodes = workload.synthetic_episodes(
      batch_size * 20, num_users=len(user["zip"]), num_items=len(item["rate"]), seed=0,
      max_support=support)
  batch = workload.bucket_batches(episodes, batch_size, None)[0][2]
  return meta_step.step_memory(models.melu(user, item, vocab), batch,
                               f"maml{num_steps}")["total_bytes"]


def markdown(rows: Sequence[dict[str, Any]]) -> str:
  """The comparison table (tasks/s, ratios, memory in MB)."""
  lines = ["| K | B | torch loop | torch.func | jaxrec (pad 90) | jaxrec (bucketed) | "
           "jaxrec weight-space (bucketed) | jaxrec/loop | jaxrec/torch.func | "
           "mem MB loop / func / jaxrec |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    mem = " / ".join(f"{r[k] / 2**20:.0f}" for k in
                     ("loop_peak_rss_growth", "func_peak_rss_growth", "jaxrec_step_bytes"))
    lines.append(
        f"| {r['num_steps']} | {r['batch_size']} | {r['loop']:.0f} | {r['func']:.0f} | "
        f"{r['jaxrec_none']:.0f} | {r['jaxrec_bucketed']:.0f} | "
        f"{r['jaxrec_bucketed_weights']:.0f} | "
        f"{r['jaxrec_bucketed'] / r['loop']:.1f}× ({r['jaxrec_none'] / r['loop']:.1f}×) | "
        f"{r['jaxrec_bucketed'] / r['func']:.1f}× ({r['jaxrec_none'] / r['func']:.1f}×) | "
        f"{mem} |")
  return "\n".join(lines)


def main(argv: Sequence[str]) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--batch_sizes", default="32,256")
  parser.add_argument("--num_steps", default="1,5")
  parser.add_argument("--torch_threads", type=int, default=os.cpu_count() or 1)
  parser.add_argument("--quick", action="store_true", help="small tables, B=8")
  parser.add_argument("--out", default=None, help="also write the JSON here")
  args = parser.parse_args(argv)
  batch_sizes = [8] if args.quick else [int(b) for b in args.batch_sizes.split(",")]
  rows = []
  for k in [int(s) for s in args.num_steps.split(",")]:
    jax_results = {(r["batch_size"], r["buckets"] != "none",
                    meta_step.step_spec(r["name"])[2]): r
                   for r in jax_rows(k, batch_sizes, args.quick)}
    for b in batch_sizes:
      loop = torch_row("loop", k, b, args.torch_threads, args.quick)
      func = torch_row("func", k, b, args.torch_threads, args.quick)
      rows.append({"num_steps": k, "batch_size": b, "loop": loop["tasks_per_s"],
                   "func": func["tasks_per_s"],
                   "jaxrec_none": jax_results[(b, False, False)]["tasks_per_s"],
                   "jaxrec_bucketed": jax_results[(b, True, False)]["tasks_per_s"],
                   "jaxrec_bucketed_weights": jax_results[(b, True, True)]["tasks_per_s"],
                   "jaxrec_none_cpu": jax_results[(b, False, False)]["tasks_per_s_cpu"],
                   "jaxrec_bucketed_cpu": jax_results[(b, True, False)]["tasks_per_s_cpu"],
                   "loop_peak_rss_growth": loop["peak_rss_growth_bytes"],
                   "func_peak_rss_growth": func["peak_rss_growth_bytes"],
                   "jaxrec_step_bytes": jax_memory(k, b, args.quick)})
  report = {"torch_threads": args.torch_threads, "cores": os.cpu_count(),
            "load_avg": os.getloadavg()[0], "rows": rows}
  meta_step.emit(report, markdown(rows), args.out)
  return report


if __name__ == "__main__":
  main(sys.argv[1:])
