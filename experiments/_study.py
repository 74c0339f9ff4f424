"""What the k-shot study CLIs share: one seed after another, then one JSON file.

``experiments.zero_ratings``, ``experiments.profile_curves``,
``experiments.sentence_proxy`` and ``experiments.zero_ratings_run`` each evaluate
seeds (:func:`run_seeds`) and write one JSON object (:func:`write`) with the
command, the code identity (:func:`jaxrec.provenance.code_identity`), the CPU
minutes and the summary; ``python -m experiments.tables`` renders it.
"""

import json
import pathlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jaxrec import provenance
from jaxrec._io import atomic_write


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
