"""What the k-shot study CLIs share: one seed after another, then one JSON file.

``experiments.zero_ratings``, ``experiments.profile_curves``,
``experiments.sentence_proxy`` and ``experiments.zero_ratings_run`` each evaluate
seeds (:func:`run_seeds`) and write one JSON object (:func:`write`) with the
command, the code identity (:func:`jaxrec.provenance.code_identity`), the CPU
minutes and the summary; ``python -m experiments.tables`` renders it. The three
that read a config's data take the same flags (:func:`define_flags`) and prepare
each seed's split with :func:`prepared`.
"""

import json
import pathlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from absl import flags
from ml_collections import config_flags

from jaxrec import prepare
from jaxrec import provenance
from jaxrec._io import atomic_write


def define_flags(default_config: str) -> tuple[Any, Any, Any]:
  """Defines ``--config`` (default ``default_config``), ``--seeds`` (0-4) and the
  required ``--out``; returns their flag holders ``(config, seeds, out)``."""
  config = config_flags.DEFINE_config_file(
      "config", default_config, "The config whose data and split to use.")
  seeds = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Split seeds.")
  out = flags.DEFINE_string("out", None, "Where to write the JSON.")
  flags.mark_flags_as_required(["out"])
  return config, seeds, out


def prepared(config: Any, seed: int) -> prepare.Prepared:
  """``jaxrec.prepare.prepare(config)`` with ``config.seed = seed`` (the models'
  split of that seed)."""
  config.seed = seed
  return prepare.prepare(config)


def run_seeds(seeds: Iterable[int], evaluate: Callable[[int], Mapping[str, Any]]
              ) -> tuple[dict[int, Mapping[str, Any]], float]:
  """``({seed: evaluate(seed)}, CPU minutes)``, printing each seed's choices."""
  runs, started = {}, time.process_time()
  for seed in seeds:
    runs[seed] = evaluate(seed)
    print(f"seed {seed}: chosen {runs[seed]['chosen']}, users {runs[seed]['users']}",
          flush=True)
  return runs, round((time.process_time() - started) / 60, 1)


def write(out: str, module: str, fields: Mapping[str, Any], cpu_minutes: float,
          summary: Mapping[str, Any], runs: Mapping[int, Any]) -> None:
  """Writes ``{"command", **fields, "cpu_minutes", "code", "summary", "seeds"}`` to
  ``out`` atomically and prints the summary's paired differences."""
  output = {"command": f"python -m experiments.{module} " + " ".join(sys.argv[1:]),
            **fields, "cpu_minutes": cpu_minutes, "code": provenance.code_identity(),
            "summary": summary, "seeds": runs}
  path = pathlib.Path(out)
  path.parent.mkdir(parents=True, exist_ok=True)
  text = json.dumps(output, indent=1).encode()
  atomic_write(path, lambda f: f.write(text))
  print(json.dumps(summary["paired"], indent=1))
