r"""Serving latency of :func:`jaxrec.recommend.recommend` for brand-new users.

  python -m benchmarks.recommend_latency                      # trains a tiny MeLU run
  python -m benchmarks.recommend_latency --model=foldin       # the meta-learned fold-in
  python -m benchmarks.recommend_latency --model=foldin-lastfm --signals=friends \
      --signals=description
  python -m benchmarks.recommend_latency --model=foldin-friends-lastfm --signals=friends
  python -m benchmarks.recommend_latency --workdir=workdirs/maml_ml100k

Without ``--workdir`` it first meta-trains one epoch of ``--model`` (MeLU with
MAML, or the fold-in model whose adaptation is its closed-form solve) on a
synthetic ML-100K-sized catalogue (943 users, 1682 items) in a temporary folder
(``foldin-lastfm``: the implicit fold-in on a synthetic Last.fm of HetRec's size,
1892 users and 17632 artists, with friends; ``foldin-friends-lastfm``: the same
model whose prior also reads the training friends, so each request's friends
also fill its user row). The users' ratings come from the
run's data (``jaxrec.prepare``); ``--signals`` adds to every request the user's
friends (their raw ids from the data's friend graph) and/or a description (a
sentence naming the feature values of two of the user's items), the runtime
inputs of :mod:`jaxrec.serving.signals` (``--support=0``: those alone; the batch
figures are ratings only, ``recommend_batch`` takes no other signal). Then, after warm-up, it
times ``recommend`` for one new user (``--support`` ratings of a random held-out
user, ``--num_steps`` inner steps (default: the run's own; the tiny MeLU run
takes 5, the fold-in 0: its closed-form solve), every catalogue item scored, explanations on)
and ``recommend_batch`` for ``--batch`` such users, and prints one JSON object:
p50/p99/mean/min milliseconds per request, users per second in batches, and the
machine's load average (other processes on a shared CPU inflate the figures),
and the run's model, method, dataset, seed and code hash (of the code it trained
with, from its ``provenance.json``). ``--out`` also writes it to a file:
the README's figures are ``benchmarks/results/recommend_latency*.json``, each
naming its command in ``source`` (the ``_ml100k`` and ``_lastfm`` files serve
runs, seed 0, of the final configs ``experiments/configs/foldin_ml100k.py`` and
``foldin_lastfm.py``).
"""

import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app
from absl import flags
from absl import logging

from experiments.configs import maml_synthetic
from jaxrec import prepare
from jaxrec import recommend
from jaxrec import train
from jaxrec.data import graph

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; default: train a tiny one.")
_MODEL = flags.DEFINE_enum("model", "melu",
                           ["melu", "foldin", "foldin-lastfm", "foldin-friends-lastfm"],
                           "The tiny run's model (without --workdir).")
_SIGNALS = flags.DEFINE_multi_enum("signals", [], ["friends", "description"],
                                   "Runtime inputs added to each single request.")
_SUPPORT = flags.DEFINE_integer("support", 10, "Ratings per new user.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", None,
                                  "Inner steps per request; default: the run's own.")
_K = flags.DEFINE_integer("k", 10, "Recommendations per user.")
_REPEATS = flags.DEFINE_integer("repeats", 300, "Timed single requests.")
_WARMUP = flags.DEFINE_integer("warmup", 20, "Untimed requests first.")
_BATCH = flags.DEFINE_integer("batch", 64, "Users per recommend_batch call.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed for picking the users' ratings.")
_OUT = flags.DEFINE_string("out", None, "Also write the JSON here.")


def train_tiny(workdir: pathlib.Path, model: str) -> None:
  """One epoch of ``model`` (MeLU + MAML, or fold-in + solve) on a synthetic
  catalogue of ML-100K's size."""
  config = maml_synthetic.get_config()
  config.data.synthetic = {"num_users": 943, "num_items": 1682, "seed": 0}
  config.meta.num_steps = 5
  if model == "foldin":
    config.model.name = "foldin"
    config.model.kwargs = {"rank": 8, "init_bias": 3.5}
    config.meta.adapter = "solve"
    config.meta.num_steps = 0  # the closed form, as in experiments/configs/foldin_*.py
  if model in ("foldin-lastfm", "foldin-friends-lastfm"):
    config.data.dataset = "synthetic-lastfm"
    config.data.synthetic = {"num_users": 1892, "num_artists": 17632, "seed": 0}
    config.data.negatives = 0
    config.model.name = "foldin"
    config.model.kwargs = {"rank": 32, "unobserved_weight": 0.01, "loss": "softmax"}
    config.meta.adapter = "solve"
    config.meta.num_steps = 0
    config.best_metric = "full_ndcg@10"
  if model == "foldin-friends-lastfm":
    config.data.friends = True
    config.model.kwargs["user_fields"] = ("friends",)
  config.num_epochs = 1
  config.eval_every = 1000
  config.buckets = (128,)
  train.train(config, workdir, progress=False)


def new_users(recommender: recommend.Recommender, count: int, support: int,
              seed: int) -> list[dict]:
  """``count`` requests (keyword arguments of ``recommend``): ``support`` random
  ratings of random test users (users with fewer ratings are skipped; implicit
  feedback rates 1), plus the ``--signals`` inputs."""
  prepared = prepare.prepare(recommender.config)
  inter = prepared.interactions
  rng = np.random.default_rng(seed)
  users = [u for u in prepared.split.test_users
           if np.count_nonzero(inter.user == u) >= max(support, 2)]
  out = []
  for u in rng.choice(users, size=count):
    rows = rng.choice(np.flatnonzero(inter.user == u), size=max(support, 2), replace=False)
    request = {"ratings": [(inter.item_ids[inter.item[n]].item(),
                            1.0 if inter.implicit else float(inter.rating[n]))
                           for n in rows[:support]]}
    if "friends" in _SIGNALS.value:
      request["friends"] = inter.user_ids[graph.friends_of(
          inter, int(u), among=prepared.split.train_users)].tolist()
    if "description" in _SIGNALS.value:
      names = [n for r in rows[:2] for n in recommender.item_labels[inter.item[r]]]
      request["description"] = "I like " + (", ".join(names[:4]) or "music")
    out.append(request)
  return out


def timed(fn, *args, **kwargs) -> float:
  """Seconds one call of ``fn`` takes."""
  start = time.perf_counter()
  fn(*args, **kwargs)
  return time.perf_counter() - start


def measure(workdir: pathlib.Path) -> dict:
  """The latency figures of the run in ``workdir`` (see the module docstring)."""
  recommender = recommend.load_recommender(workdir, num_steps=_NUM_STEPS.value)
  users = new_users(recommender, max(_REPEATS.value, _BATCH.value), _SUPPORT.value,
                    _SEED.value)
  k = _K.value
  for request in users[:_WARMUP.value]:
    recommend.recommend(recommender, k=k, **request)
  single = np.asarray([timed(recommend.recommend, recommender, k=k, **request)
                       for request in users[:_REPEATS.value]]) * 1e3
  batch = [request["ratings"] for request in users[:_BATCH.value]]
  batch_figures = {}
  if _SUPPORT.value:
    recommend.recommend_batch(recommender, batch, k)
    batched = np.asarray([timed(recommend.recommend_batch, recommender, batch, k)
                          for _ in range(max(_REPEATS.value // 20, 5))])
    batch_figures = {"batch": len(batch),
                     "batch_p50_ms": round(float(np.median(batched)) * 1e3, 3),
                     "users_per_s": round(len(batch) / float(np.median(batched)), 1)}
  return {
      "source": "python -m benchmarks.recommend_latency " + " ".join(sys.argv[1:]),
      "device": str(jax.devices()[0].device_kind), "cpu_count": os.cpu_count(),
      "machine": platform.processor() or platform.machine(),
      "model": recommender.config.model.name,
      "method": recommender.config.name, "dataset": recommender.config.data.dataset,
      "seed": recommender.config.seed,
      "run_code_hash": json.loads((workdir / "provenance.json").read_text())["code_hash"],
      "user_fields": list(recommender.model.config.get("user_fields") or []),
      "adapter": recommender.config.meta.get("adapter", "gradient"),
      "num_items": recommender.num_items, "support": _SUPPORT.value,
      "num_steps": recommender.num_steps, "k": k, "explain": True,
      "signals": sorted(_SIGNALS.value),
      "p50_ms": round(float(np.percentile(single, 50)), 3),
      "p99_ms": round(float(np.percentile(single, 99)), 3),
      "mean_ms": round(float(single.mean()), 3), "min_ms": round(float(single.min()), 3),
      "repeats": len(single), "load_average_1min": round(os.getloadavg()[0], 2),
      **batch_figures}


def emit(report: dict, out: str | None) -> None:
  """Prints ``report`` as JSON to stdout (and writes it to the file ``out`` when given)."""
  text = json.dumps(report, indent=2)
  print(text)
  if out:
    pathlib.Path(out).write_text(text + "\n")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _WORKDIR.value:
    emit(measure(pathlib.Path(_WORKDIR.value)), _OUT.value)
    return
  with tempfile.TemporaryDirectory() as tmp:
    train_tiny(pathlib.Path(tmp), _MODEL.value)
    emit(measure(pathlib.Path(tmp)), _OUT.value)


if __name__ == "__main__":
  app.run(main)
