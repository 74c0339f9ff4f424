r"""Users with no ratings yet: a proxy sentence of their own, at k = 0 and k = 3.

  python -m experiments.sentence_proxy --config=experiments/configs/foldin_lastfm.py \
      --seeds=0,1,2,3,4 --out=experiments/results/zero_ratings/sentences_lastfm.json
  python -m experiments.sentence_proxy --config=experiments/configs/foldin_ml100k.py \
      --seeds=0,1,2,3,4 --out=experiments/results/zero_ratings/sentences_ml100k.json

For each seed, the models' cold-start split of ``--config`` gives the validation
and test users; :mod:`jaxrec.sentence_proxy` builds each one's proxy sentence,
encodes it with the frozen all-MiniLM-L6-v2 (the item text vectors: the
prepared ``item_table["text"]`` when the config has text features, else the
same encoder over the prepared item text, whose Last.fm tags come from the
training users only; cached on disk by :mod:`jaxrec.text`), tunes its methods on
the validation users and scores the test users once. Writes one JSON object: the
command, the code identity, the grid, CPU minutes, each seed's choices, user
counts, example sentences and per-user figures, and the summary (means over
seeds with seed-level 95% CIs, and the paired differences). ``python -m
experiments.tables`` turns it into the README's table.
"""

import numpy as np
from absl import logging

from experiments import _cli
from experiments import _study
from jaxrec import sentence_proxy
from jaxrec import text
from jaxrec import zero_ratings

_CONFIG, _SEEDS, _OUT = _study.define_flags("experiments/configs/foldin_lastfm.py")


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  config = _CONFIG.value
  encoder = text.load_encoder(text.minilm_path(), expected_sha256=text.MINILM_SHA256)
  implicit = []

  def evaluate(seed):
    prepared = _study.prepared(config, seed)
    implicit.append(prepared.interactions.implicit)
    vectors = prepared.item_table.get("text")
    if vectors is None:
      vectors = text.cached_embeddings(encoder, prepared.interactions.item_text,
                                       config.data.cache_dir or text.default_cache_dir(),
                                       progress=False)
    return sentence_proxy.evaluate_seed(prepared.interactions, prepared.split, seed=seed,
                                        encoder=encoder, item_vectors=np.asarray(vectors))
  runs, minutes = _study.run_seeds(map(int, _SEEDS.value), evaluate)
  kind = "implicit" if implicit[-1] else "explicit"
  _study.write(_OUT.value, "sentence_proxy",
               {"dataset": config.data.dataset, "ks": list(sentence_proxy.K_SHOTS),
                "metrics": list(sentence_proxy.METRICS), "grid": sentence_proxy.GRID,
                "unrelated_floor": sentence_proxy.UNRELATED_FLOOR,
                "foldin_grid": sentence_proxy.FOLDIN_GRIDS[kind][1]},
               minutes, zero_ratings.pool_seeds(runs, sentence_proxy.METHODS,
                                                sentence_proxy.K_SHOTS,
                                                sentence_proxy.COMPARISONS), runs)


if __name__ == "__main__":
  _cli.run(main, config_files=[_CONFIG])
