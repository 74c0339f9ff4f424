r"""Reptile: theta <- theta + eps (phi - theta) through Adam, 5 inner steps on support
and query; MeLU on MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/reptile_ml100k.py \
      --workdir=workdirs/reptile_ml100k --evaluate

Everything else as in ``maml_ml100k.py``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.meta.algorithm = "reptile"
  c.meta.num_steps = 5
  return c
