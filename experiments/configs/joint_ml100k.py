r"""The same network trained without meta-learning (every rating of a task,
no inner loop); evaluation adds the fine-tuned variant (rate and steps chosen on
validation users); MeLU on MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/joint_ml100k.py \
      --workdir=workdirs/joint_ml100k --evaluate

Everything else as in ``maml_ml100k.py``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.meta.algorithm = "joint"
  return c
