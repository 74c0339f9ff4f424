r"""Trains and evaluates configs over several seeds, then pools them into one report.

  python -m experiments.run_all \
      --configs=experiments/configs/maml_ml100k.py,experiments/configs/joint_ml100k.py \
      --seeds=0,1,2,3,4 --root=workdirs/ml100k [--out=experiments/results/ml100k] \
      [--set num_epochs=5 --set meta.num_steps=3 ...] [--pair METHOD:REFERENCE ...] \
      [--final METHOD [--variant METHOD ...]] [--include_stale]

Each (config, seed) runs in ``<root>/<config file stem>/seed_<seed>`` with
``config.seed = seed`` (after the ``--set`` overrides). A run whose
``results.json`` exists is skipped, an unfinished one resumes from its checkpoint,
and a failing one is reported without stopping the others, so a table can be built
over several sittings. Then every finished run under ``root`` *of the current code*
is pooled (:mod:`jaxrec.results`) into ``<out>/results.json`` (aggregated rows,
paired differences against the strongest baseline of each state and for every
``--pair``, the ``--final`` method against the strongest other method per metric
(every pooled method but the ``--variant`` s of the final one), the runs with their
code identities, the command line), ``<out>/results.md``, and
``<out>/<config>_{k_shot,learning_curves,inner_steps,mae_by_support}.png`` copied
from each config's lowest pooled seed (seed 0 normally). ``--out`` defaults to
``root``. Each run's CPU time (training, evaluation; ``<workdir>/cost.json``)
is added up over sittings and listed with the pooled runs (``cpu_minutes``).
The exit status is 1 when a run failed, 2 for bad input (a missing
config file, a bad ``--set``, nothing to pool: one ``error:`` line on stderr;
``--traceback`` or ``JAXREC_TRACEBACK=1`` shows the traceback instead).

A finished run is *stale* when the code identity it was trained or evaluated with
(:func:`jaxrec.provenance.code_identity`, recorded in ``results.json``) has another
code hash than the code running this command: it is listed in ``stale_runs`` and
left out of the tables, unless ``--include_stale`` pools it anyway (still listed).
Delete a stale run's workdir to retrain it with the current code.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import pathlib
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np
from absl import logging

from experiments import _cli
from jaxrec import provenance
from jaxrec._io import atomic_write
from jaxrec import results as results_lib

PLOTS = ("k_shot.png", "learning_curves.png", "inner_steps.png", "mae_by_support.png")


def load_config(path: str | pathlib.Path) -> ml_collections.ConfigDict:
  """``get_config()`` of the config file at ``path``.

  Raises:
    FileNotFoundError: if ``path`` does not exist.
    ValueError: if the file defines no ``get_config``.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"config file {path} not found")
  spec = importlib.util.spec_from_file_location(f"_run_all_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"config file {path} defines no get_config()")
  return module.get_config()


def parse_override(text: str) -> tuple[str, Any]:
  """``"key.sub=value"`` -> ``("key.sub", value)``; the value is a Python literal
  (``1``, ``0.5``, ``True``, ``(16, 32)``, ``'x'``) or else the raw string.

  Raises:
    ValueError: if ``text`` has no ``=`` or an empty key.
  """
  key, sep, raw = text.partition("=")
  if not sep or not key.strip():
    raise ValueError(f"--set {text!r}: expected key=value, e.g. num_epochs=5")
  try:
    value = ast.literal_eval(raw)
  except (ValueError, SyntaxError):
    value = raw
  return key.strip(), value


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[tuple[str, Any]]) -> ml_collections.ConfigDict:
  """Sets each dotted ``key`` of ``overrides`` in ``config`` (in place; returned).

  Raises:
    ValueError: if a key is not in the config, or its value has the wrong type.
  """
  for key, value in overrides:
    *parents, leaf = key.split(".")
    node = config
    for i, part in enumerate(parents + [leaf]):
      if part not in node:
        raise ValueError(f"--set {key}: the config has no field "
                         f"{'.'.join(parents[:i] + [part])!r}")
      if i < len(parents):
        node = node[part]
    try:
      node[leaf] = value
    except TypeError as e:
      raise ValueError(f"--set {key}={value!r}: {e}") from e
  return config


def run_dir(root: str | pathlib.Path, config_path: str | pathlib.Path, seed: int
            ) -> pathlib.Path:
  """``<root>/<config file stem>/seed_<seed>``."""
  return pathlib.Path(root) / pathlib.Path(config_path).stem / f"seed_{seed}"


COST = "cost.json"  # a run's CPU seconds, {"train": ..., "evaluate": ...}


def run_one(config: ml_collections.ConfigDict, workdir: pathlib.Path, *,
            progress: bool) -> str:
  """Trains (resuming) and evaluates ``config`` in ``workdir`` unless its
  ``results.json`` exists; returns ``"skipped"`` or ``"done"``.

  The CPU time of this process (``time.process_time``: every core it used) spent
  training and evaluating is added to ``<workdir>/cost.json``, so a run resumed
  over several sittings counts each of them (except a sitting killed by SIGKILL).
  """
  if (workdir / "results.json").exists():
    return "skipped"
  from jaxrec import evaluate, train  # pylint: disable=import-outside-toplevel
  steps = (("train", lambda: train.train(config, workdir, progress=progress)),
           ("evaluate", lambda: evaluate.evaluate_run(workdir, progress=progress)))
  for part, step in steps:
    started = time.process_time()
    try:
      step()
    finally:  # a failed or interrupted (not SIGKILLed) sitting's time counts too
      if workdir.is_dir():
        _add_cost(workdir, part, time.process_time() - started)
  return "done"


def _add_cost(workdir: pathlib.Path, part: str, seconds: float) -> None:
  """Adds ``seconds`` to ``part`` of ``<workdir>/cost.json`` (written atomically)."""
  path = workdir / COST
  cost = json.loads(path.read_text()) if path.exists() else {}
  cost[part] = cost.get(part, 0.0) + seconds
  text = json.dumps(cost).encode()
  atomic_write(path, lambda f: f.write(text))


def finished_runs(root: str | pathlib.Path) -> list[dict[str, Any]]:
  """Every ``<root>/<config>/seed_<s>`` holding ``results.json`` and
  ``per_user.npz``, as ``{"config", "seed", "workdir"}`` sorted by config, seed."""
  found = []
  for path in pathlib.Path(root).glob("*/seed_*/results.json"):
    workdir = path.parent
    seed = workdir.name[len("seed_"):]
    if seed.isdigit() and (workdir / "per_user.npz").exists():
      found.append({"config": workdir.parent.name, "seed": int(seed),
                    "workdir": str(workdir)})
  return sorted(found, key=lambda r: (r["config"], r["seed"]))


def _stale_lines(stale: Sequence[dict[str, Any]], include_stale: bool) -> list[str]:
  """Markdown list of the stale runs and whether they were pooled."""
  if not stale:
    return []
  fate = "pooled anyway (--include_stale)" if include_stale else "not pooled"
  return ([f"**Stale runs** (trained or evaluated with other code; {fate}):", ""]
          + [f"- {r['config']} seed {r['seed']}: {r['stale']}" for r in stale] + [""])


def pool_runs(root: str | pathlib.Path, out: str | pathlib.Path, *, command: str,
              runs: Sequence[dict[str, Any]] = (),
              pairs: Sequence[tuple[str, str]] = (), final: str | None = None,
              variants: Sequence[str] = (), include_stale: bool = False
              ) -> dict[str, Any]:
  """Pools every finished run of the current code under ``root`` and writes the
  report into ``out``.

  Each finished run's code identities (``results.json``'s ``protocol
  ["trained_code"]`` and ``protocol["code"]``) are compared with the current
  :func:`jaxrec.provenance.code_identity` (:func:`jaxrec.results.stale_reason`);
  stale runs are left out unless ``include_stale``, and listed either way.

  The paired comparisons use each run's curve metric (RMSE for explicit data, AUC
  for implicit) and, per state, compare every method with the strongest baseline
  (best aggregated mean on that state), and each ``(method, reference)`` of
  ``pairs`` (e.g. a model with and without text) on every state holding both.
  With ``final``, :func:`jaxrec.results.final_comparisons` compares that method
  with the strongest other method on every table metric with per-user values,
  leaving out ``variants`` (other versions of the final method, e.g. another
  adaptation of the same model: compare with those through ``pairs``).

  Returns:
    The ``<out>/results.json`` dict: ``{"dataset", "command", "metric", "code"
    (the current identity), "include_stale", "runs" (this invocation's),
    "pooled_runs", "stale_runs" (each ``{"config", "seed", "workdir", "code":
    {"trained", "evaluated"}}``, stale ones with ``"stale"``: the reason),
    "aggregated", "paired", "final": {"method", "comparisons"} or None}``.

  Raises:
    FileNotFoundError: if no finished run is under ``root``.
    ValueError: if every finished run is stale and ``include_stale`` is false; as
      :func:`jaxrec.results.aggregate`, :func:`jaxrec.results.strongest_baseline`,
      :func:`jaxrec.results.paired_differences` and
      :func:`jaxrec.results.final_comparisons`.
  """
  found = finished_runs(root)
  if not found:
    raise FileNotFoundError(f"no finished run (results.json + per_user.npz) under {root}")
  current = provenance.code_identity()
  pooled_runs, outputs = [], []
  for run in found:
    output = json.loads((pathlib.Path(run["workdir"]) / "results.json").read_text())
    run["code"] = {"trained": output["protocol"].get("trained_code"),
                   "evaluated": output["protocol"].get("code")}
    cost = pathlib.Path(run["workdir"]) / COST
    if cost.exists():
      run["cpu_minutes"] = {k: round(v / 60, 2) for k, v in json.loads(cost.read_text()).items()}
    reason = results_lib.stale_reason(run["code"], current)
    if reason:
      run["stale"] = reason
    if include_stale or not reason:
      pooled_runs.append(run)
      outputs.append(output)
  stale = [r for r in found if "stale" in r]
  if stale:
    print("\n".join(_stale_lines(stale, include_stale)), file=sys.stderr)
  if not pooled_runs:
    raise ValueError(f"none of the {len(found)} finished runs under {root} is of the "
                     f"current code (code hash {current['code_hash']}): retrain them "
                     "(delete their workdirs) or pass --include_stale to pool them anyway")
  aggregated = results_lib.aggregate(outputs)
  metric = outputs[0]["curves"]["metric"]
  needed = (metric, *results_lib.TABLE_METRICS) if final else (metric,)
  per_user = []
  for run, output in zip(pooled_runs, outputs):
    with np.load(pathlib.Path(run["workdir"]) / "per_user.npz") as arrays:
      keys = [k for k in arrays.files if k.rpartition("|")[2] in (*needed, "user")]
      per_user.append((output["protocol"]["seed"], {k: arrays[k] for k in keys}))
  paired = []
  for state in dict.fromkeys(r["state"] for r in aggregated):
    reference = results_lib.strongest_baseline(aggregated, state, metric)
    # methods that report the metric (ranking-only baselines have no MAE / RMSE)
    methods = {r["method"] for r in aggregated if r["state"] == state
               and metric in r["metrics"]}
    paired += [results_lib.paired_differences(per_user, r["method"], reference, state,
                                              metric)
               for r in aggregated if r["state"] == state and r["method"] != reference
               and r["method"] in methods]
    paired += [results_lib.paired_differences(per_user, method, ref, state, metric)
               for method, ref in pairs if {method, ref} <= methods]
  rivals = [r for r in aggregated if r["method"] not in variants]
  comparisons = (results_lib.final_comparisons(rivals, per_user, final)
                 if final else [])
  summary = {"dataset": outputs[0]["dataset"], "command": command, "metric": metric,
             "code": current, "include_stale": include_stale, "runs": list(runs),
             "pooled_runs": pooled_runs, "stale_runs": stale, "aggregated": aggregated,
             "paired": paired,
             "final": ({"method": final, "variants": list(variants),
                        "comparisons": comparisons} if final else None)}
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "results.json").write_text(json.dumps(summary, indent=2))
  dirty = ", dirty" if current["dirty"] else ""
  header = [f"# {summary['dataset']}", "", f"`{command}`", "",
            f"Code {str(current['code_hash'])[:12]} (commit "
            f"{str(current['git_commit'])[:12]}{dirty}).", ""]
  (out / "results.md").write_text("\n".join(header + _stale_lines(stale, include_stale))
                                  + "\n" + results_lib.markdown_table(
                                      aggregated, paired, final=comparisons))
  first_seed = {}
  for run in pooled_runs:
    first_seed.setdefault(run["config"], run["workdir"])
  for config_name, workdir in first_seed.items():
    for plot in PLOTS:
      if (pathlib.Path(workdir) / plot).exists():
        shutil.copyfile(pathlib.Path(workdir) / plot, out / f"{config_name}_{plot}")
  return summary


def run_all(config_paths: Sequence[str], seeds: Sequence[int], root: str | pathlib.Path,
            out: str | pathlib.Path | None = None,
            overrides: Sequence[tuple[str, Any]] = (), *, command: str = "",
            pairs: Sequence[tuple[str, str]] = (), final: str | None = None,
            variants: Sequence[str] = (), include_stale: bool = False,
            progress: bool = True) -> dict[str, Any]:
  """Runs every (config, seed) not finished yet, then :func:`pool_runs` s ``root``
  (with ``pairs``, ``final``, ``variants`` and ``include_stale``).

  A failing run (any exception) is printed and recorded with status ``"failed"``
  and its traceback; the others go on.

  Returns:
    The summary dict of :func:`pool_runs`, whose ``"runs"`` lists
    ``{"config", "seed", "workdir", "status"}`` (status ``done``, ``skipped`` or
    ``failed``, plus ``"error"`` for a failure).

  Raises:
    FileNotFoundError, ValueError: for a missing config file or a bad override
      (before anything runs), and as :func:`pool_runs`.
  """
  configs = {path: apply_overrides(load_config(path), overrides) for path in config_paths}
  runs = []
  for path, config in configs.items():
    for seed in seeds:
      config.seed = seed
      workdir = run_dir(root, path, seed)
      record = {"config": pathlib.Path(path).stem, "seed": seed, "workdir": str(workdir)}
      try:
        record["status"] = run_one(config, workdir, progress=progress)
      except Exception:  # pylint: disable=broad-except
        record.update(status="failed", error=traceback.format_exc())
        print(f"run {workdir} failed:\n{record['error']}", file=sys.stderr)
      runs.append(record)
  return pool_runs(root, root if out is None else out, command=command, runs=runs,
                   pairs=pairs, final=final, variants=variants,
                   include_stale=include_stale)


def _pair(text: str) -> tuple[str, str]:
  method, sep, reference = text.partition(":")
  if not (sep and method and reference):
    raise argparse.ArgumentTypeError(f"expected METHOD:REFERENCE, got {text!r}")
  return method, reference


def _int_list(text: str) -> list[int]:
  try:
    return [int(s) for s in text.split(",") if s.strip()]
  except ValueError as e:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}"
                                     ) from e


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (see the module docstring); returns the exit status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  logging.set_verbosity(logging.ERROR)  # Orbax logs every save and read-only open
  parser = argparse.ArgumentParser(prog="python -m experiments.run_all",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--configs", required=True,
                      help="comma-separated config files (experiments/configs/*.py)")
  parser.add_argument("--seeds", type=_int_list, default=[0],
                      help="comma-separated seeds, e.g. 0,1,2,3,4")
  parser.add_argument("--root", required=True, help="folder of the run workdirs")
  parser.add_argument("--out", default=None, help="report folder (default: --root)")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="config override, repeatable")
  parser.add_argument("--pair", dest="pairs", action="append", type=_pair, default=[],
                      metavar="METHOD:REFERENCE",
                      help="also report METHOD - REFERENCE paired per user, repeatable "
                           "(e.g. hybrid-text-maml:hybrid-notext-maml)")
  parser.add_argument("--final", default=None, metavar="METHOD",
                      help="the final method: compared with the strongest other method "
                           "on every metric (e.g. hybrid-text-maml)")
  parser.add_argument("--variant", dest="variants", action="append", default=[],
                      metavar="METHOD",
                      help="a variant of the --final method (another adaptation of the "
                           "same model), never its strongest other method; repeatable")
  parser.add_argument("--include_stale", action="store_true",
                      help="also pool runs trained or evaluated with other code than "
                           "the current one (they are listed as stale either way)")
  parser.add_argument("--traceback", action="store_true", help=_cli.TRACEBACK_HELP)
  args = parser.parse_args(argv)
  summary = run_all([p for p in args.configs.split(",") if p], args.seeds, args.root,
                    args.out, [parse_override(s) for s in args.overrides],
                    command=shlex.join(["python", "-m", "experiments.run_all", *argv]),
                    pairs=args.pairs, final=args.final, variants=args.variants,
                    include_stale=args.include_stale)
  print(results_lib.markdown_table(summary["aggregated"], summary["paired"],
                                   final=summary["final"]["comparisons"]
                                   if summary["final"] else ()))
  failed = [r["workdir"] for r in summary["runs"] if r["status"] == "failed"]
  if failed:
    print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
  return 1 if failed else 0


if __name__ == "__main__":
  with _cli.exit_on_bad_input(sys.argv):
    sys.exit(main())
