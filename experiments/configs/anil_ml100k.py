r"""ANIL: only the output layer adapts in the inner loop; MeLU on MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/anil_ml100k.py \
      --workdir=workdirs/anil_ml100k --evaluate

Everything else as in ``maml_ml100k.py``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.meta.algorithm = "anil"
  c.meta.adapt = "head"
  return c
