"""What the k-shot study CLIs share: one seed after another, then one JSON file.

``experiments.zero_ratings``, ``experiments.profile_curves``,
``experiments.sentence_proxy`` and ``experiments.zero_ratings_run`` each evaluate
seeds (:func:`run_seeds`) and write one JSON object (:func:`write`) with the
command, the code identity (:func:`jaxrec.provenance.code_identity`), the CPU
minutes and the summary; ``python -m experiments.tables`` renders it. All take
``--seeds`` and ``--out`` (:func:`define_output_flags`); those that read a config's
data also ``--config`` (:func:`define_flags`) and prepare each seed's split with
:func:`prepared`. Those that score trained runs load them
with :func:`load_run` and score padded supports with :func:`score_supports`.
"""

import dataclasses
import json
import pathlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from absl import flags
from ml_collections import config_flags

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _cli
from jaxrec import prepare
from jaxrec import provenance
from jaxrec import recommend
from jaxrec._io import atomic_write

_CHUNK = 32  # users per jitted call
flags.disclaim_key_flags()  # define_flags' flags belong to the entry point calling it


def define_output_flags() -> tuple[Any, Any]:
  """Defines ``--seeds`` (0-4) and the required ``--out`` through
  :func:`experiments._cli.define`; returns their flag holders ``(seeds, out)``."""
  seeds = _cli.define(flags.DEFINE_list, "seeds", ["0", "1", "2", "3", "4"], "Split seeds.")
  out = _cli.define(flags.DEFINE_string, "out", None, "Where to write the JSON.")
  flags.mark_flags_as_required(["out"])
  return seeds, out


def define_flags(default_config: str) -> tuple[Any, Any, Any]:
  """Defines ``--config`` (default ``default_config``) through
  :func:`experiments._cli.define` (in a process that imported another entry point
  first, its defaults hold) and :func:`define_output_flags`; returns their flag
  holders ``(config, seeds, out)``."""
  config = _cli.define(config_flags.DEFINE_config_file, "config", default_config,
                       "The config whose data and split to use.")
  return (config, *define_output_flags())


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


def _scorer(recommender: recommend.Recommender):
  """``score(user, item, y, mask) -> float32[B, I]``: every item's score after the
  run's adaptation to each of ``B`` padded supports, user ``user[b]``'s row of the
  user table giving the user fields (the training friends, the profile)."""
  model, adapter = recommender.model, recommender.adapter
  catalogue = jnp.arange(recommender.num_items)

  @jax.jit
  def score(user, item, y, mask):
    def one(user, item, y, mask):
      phi = adapter(recommender.params, recommender.inner_lr, recommender.num_steps,
                    {"user": user, "item": item, "y": y, "mask": mask})
      return model.predict(phi, user, catalogue)
    return jax.vmap(one)(user, item, y, mask)
  return score


@dataclasses.dataclass(frozen=True)
class Run:
  """A trained run to score: its recommender, its prepared data and split, and
  ``score`` (a jitted ``score(user, item, y, mask) -> float32[B, I]``)."""
  workdir: pathlib.Path
  recommender: recommend.Recommender
  prepared: prepare.Prepared
  score: Callable[..., Any]

  def about(self) -> dict[str, Any]:
    """``{"workdir", "config", "code"}``: which run, and the code that trained it."""
    return {"workdir": str(self.workdir), "config": self.recommender.config.name,
            "code": json.loads((self.workdir / "provenance.json").read_text())}


def load_run(workdir: pathlib.Path, seed: int) -> Run:
  """The run in ``workdir``, whose split seed must be ``seed``.

  Raises:
    ValueError: the run's split seed is not ``seed``.
  """
  recommender = recommend.load_recommender(workdir)
  if recommender.config.seed != seed:
    raise ValueError(f"{workdir}: the run's split seed is {recommender.config.seed}, "
                     f"expected {seed}")
  return Run(workdir, recommender, prepare.prepare(recommender.config),
             _scorer(recommender))


def score_supports(run: Run, users: np.ndarray,
                   rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
  """``float64[B, I]``: every item's score for user ``users[b]`` after the run's
  adaptation to ``rows[b] = (items, y, weights)`` (weight 0: no row), ``_CHUNK``
  users per call, each chunk padded to a support bucket of serving."""
  scores = []
  for start in range(0, len(rows), _CHUNK):
    chunk = rows[start:start + _CHUNK]
    width = recommend.support_bucket(max(len(items) for items, _, _ in chunk))
    item = np.zeros((_CHUNK, width), np.int32)
    y = np.zeros((_CHUNK, width), np.float32)
    mask = np.zeros((_CHUNK, width), np.float32)
    for b, (items, ys, weights) in enumerate(chunk):
      item[b, :len(items)], y[b, :len(items)], mask[b, :len(items)] = items, ys, weights
    user = np.zeros(_CHUNK, np.int32)
    user[:len(chunk)] = users[start:start + _CHUNK]
    scores.append(np.asarray(run.score(user, item, y, mask))[:len(chunk)])
  return np.concatenate(scores).astype(np.float64)
