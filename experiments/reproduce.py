r"""Re-runs every committed study that is not of the current code, then the tables.

  JAXREC_DATA_DIR=/path/to/data python -m experiments.reproduce --root=workdirs
  JAXREC_DATA_DIR=/path/to/data python -m experiments.reproduce --root=workdirs \
      --streams=ml100k        # and --streams=lastfm in a second shell
  python -m experiments.reproduce --root=workdirs --dry_run   # what it would run

A study is one committed JSON under ``experiments/results/`` (:data:`STEPS`, each
with the commands that write it: the README's commands under its table). A study
is current when every code hash its JSON records (its own and those of the runs it
read) is the working tree's (:func:`jaxrec.provenance.code_identity`: the code
under ``jaxrec/`` and ``experiments/configs/``; an edit to a study script under
``experiments/`` alone re-runs nothing) and, for a ``run_all`` summary, it pools no
run of older code. Every other study is re-run, in the order of :data:`STEPS` (a
study after the runs and JSON it reads), with its runs under
``<root>/<code hash>/``: runs of older code are never resumed or pooled, while a
killed reproduction started again on the same code resumes its runs (``run_all``
skips finished runs, ``meta_train`` resumes its checkpoint). A study still not
current after its commands stops the reproduction. Each stream ends by rewriting
the README's tables from every committed JSON (``python -m experiments.tables``),
so the stream that finishes last leaves them complete. The streams, MovieLens-100K
and Last.fm, share no runs or JSON; the CPU-minutes under each table are most of
their cost.
"""
import argparse
import dataclasses
import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from jaxrec import provenance

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = "--seeds=0,1,2,3,4"
C = "experiments/configs"
R = "experiments/results"
STREAMS = ("ml100k", "lastfm")


@dataclasses.dataclass(frozen=True)
class Step:
  """One committed study: the JSON ``out`` (relative to the repository) and the
  commands that write it, each ``python -m`` arguments with ``{root}`` standing for
  ``--root``; the last one writes ``out``."""
  stream: str
  out: str
  commands: tuple[tuple[str, ...], ...]


def _run_all(out: str, root: str, configs: Sequence[str], *extra: str) -> Step:
  stream = "lastfm" if "lastfm" in out else "ml100k"
  return Step(stream, f"{R}/{out}/results.json", ((
      "experiments.run_all", "--configs=" + ",".join(f"{C}/{c}.py" for c in configs),
      SEEDS, f"--root={{root}}/{root}", f"--out={R}/{out}", *extra),))


def _train_seeds(config: str, root: str) -> tuple[tuple[str, ...], ...]:
  return tuple(("experiments.meta_train", f"--config={C}/{config}.py",
                f"--config.seed={seed}", f"--workdir={{root}}/{root}/{config}/seed_{seed}")
               for seed in range(5))


STEPS = (
    _run_all("ml100k_foldin", "ml100k_final",
             ("foldin_ml100k", "foldin_maml_ml100k", "joint_ml100k"),
             "--pair", "foldin-solve:foldin-maml", "--final=foldin-solve",
             "--variant=foldin-maml"),
    Step("ml100k", f"{R}/ml100k_foldin/ranking_check.json", ((
        "experiments.ranking_check", "--final_runs={root}/ml100k_final/foldin_ml100k",
        f"--out={R}/ml100k_foldin/ranking_check.json"),)),
    Step("ml100k", f"{R}/zero_ratings/ml100k_profiles.json", (
        *_train_seeds("foldin_kshot_ml100k", "ml100k_final"),
        *_train_seeds("foldin_profile_ml100k", "ml100k_final"),
        ("experiments.profile_curves", SEEDS,
         "--runs={root}/ml100k_final/foldin_kshot_ml100k",
         "--profile_runs={root}/ml100k_final/foldin_profile_ml100k",
         f"--out={R}/zero_ratings/ml100k_profiles.json"))),
    Step("ml100k", f"{R}/zero_ratings/sentences_ml100k.json", ((
        "experiments.sentence_proxy", f"--config={C}/foldin_ml100k.py", SEEDS,
        f"--out={R}/zero_ratings/sentences_ml100k.json"),)),
    _run_all("ml100k", "ml100k", ("maml_ml100k", "fomaml_ml100k", "reptile_ml100k",
                                  "metasgd_ml100k", "anil_ml100k", "joint_ml100k",
                                  "melu_paper_ml100k")),
    _run_all("ml100k_text", "ml100k_text", ("hybrid_text_ml100k", "hybrid_notext_ml100k"),
             "--pair", "hybrid-text-maml:hybrid-notext-maml"),
    _run_all("lastfm_foldin", "lastfm_final", ("foldin_lastfm",), "--final=foldin-solve"),
    Step("lastfm", f"{R}/zero_ratings/lastfm.json", ((
        "experiments.zero_ratings", SEEDS, f"--out={R}/zero_ratings/lastfm.json"),)),
    Step("lastfm", f"{R}/zero_ratings/lastfm_run.json", (
        *_train_seeds("foldin_friends_lastfm", "lastfm_final"),
        ("experiments.zero_ratings_run", "--runs={root}/lastfm_final/foldin_lastfm",
         "--friends_runs={root}/lastfm_final/foldin_friends_lastfm",
         f"--baselines={R}/zero_ratings/lastfm.json",
         f"--out={R}/zero_ratings/lastfm_run.json"))),
    Step("lastfm", f"{R}/zero_ratings/sentences_lastfm.json", ((
        "experiments.sentence_proxy", f"--config={C}/foldin_lastfm.py", SEEDS,
        f"--out={R}/zero_ratings/sentences_lastfm.json"),)),
    _run_all("lastfm_text", "lastfm_text", ("hybrid_text_lastfm", "hybrid_notext_lastfm"),
             "--pair", "hybrid-text-maml:hybrid-notext-maml"),
)


def _code_hashes(data: Any) -> Iterator[str]:
  """Every ``code_hash`` recorded anywhere in ``data`` (a study's own and its runs')."""
  if isinstance(data, dict):
    for key, value in data.items():
      if key == "code_hash":
        yield value
      else:
        yield from _code_hashes(value)
  elif isinstance(data, list):
    for value in data:
      yield from _code_hashes(value)


def is_current(path: pathlib.Path, code_hash: str | None) -> bool:
  """Whether the study JSON at ``path`` exists, records the code ``code_hash`` and
  no other (the runs it read included) and, for a ``run_all`` summary, pools no run
  of older code. A file that is not a JSON object (cut short) is not current."""
  if code_hash is None or not path.exists():
    return False
  try:
    data = json.loads(path.read_text())
  except json.JSONDecodeError:
    return False
  return (isinstance(data, dict) and set(_code_hashes(data)) == {code_hash}
          and not data.get("stale_runs"))


def commands(step: Step, root: str) -> list[list[str]]:
  """``step``'s commands, each a full argument list, with ``{root}`` filled in."""
  return [[sys.executable, "-m", *(arg.replace("{root}", root) for arg in command)]
          for command in step.commands]


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m experiments.reproduce",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("--root", required=True, help="folder of the studies' runs")
  parser.add_argument("--streams", default=",".join(STREAMS),
                      help="comma-separated streams to run (ml100k, lastfm)")
  parser.add_argument("--dry_run", action="store_true",
                      help="print the commands of the studies to re-run; run nothing")
  args = parser.parse_args(argv)
  streams = args.streams.split(",")
  if unknown := set(streams) - set(STREAMS):
    parser.error(f"--streams: unknown stream(s) {sorted(unknown)}")
  code_hash = provenance.code_identity(ROOT)["code_hash"]
  if code_hash is None:
    parser.error(f"{ROOT} is not a git checkout: no code hash to reproduce")
  root = f"{args.root}/{code_hash[:12]}"
  for step in STEPS:
    if step.stream not in streams:
      continue
    if is_current(ROOT / step.out, code_hash):
      print(f"current: {step.out}", flush=True)
      continue
    started = time.time()
    for command in commands(step, root):
      print("+ python " + " ".join(command[1:]), flush=True)
      if not args.dry_run and subprocess.run(command, cwd=ROOT, check=False).returncode:
        print(f"failed: {step.out}: {' '.join(command[1:])}", file=sys.stderr)
        return 1
    if args.dry_run:
      continue
    if not is_current(ROOT / step.out, code_hash):
      print(f"failed: {step.out} is still not of code {code_hash[:12]} after its commands",
            file=sys.stderr)
      return 1
    print(f"done: {step.out} in {(time.time() - started) / 60:.1f} minutes", flush=True)
  if args.dry_run:
    return 0
  return subprocess.run([sys.executable, "-m", "experiments.tables"], cwd=ROOT,
                        check=False).returncode


if __name__ == "__main__":
  sys.exit(main())
