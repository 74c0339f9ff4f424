r"""MeLU with the paper's settings (local lr 5e-6, outer Adam 5e-5, 32 tasks per
batch, 5 local steps, no id embeddings); --config.meta.num_steps=1 for the 1-step
variant; MeLU on MovieLens-100K.

  python -m experiments.meta_train --config=experiments/configs/melu_paper_ml100k.py \
      --workdir=workdirs/melu_paper_ml100k --evaluate

Everything else as in ``maml_ml100k.py``.
"""

from experiments.configs import maml_ml100k


def get_config():
  c = maml_ml100k.get_config()
  c.model.kwargs.use_ids = False
  c.meta.inner_lr = 5e-6
  c.meta.num_steps = 5
  c.optimizer.learning_rate = 5e-5
  c.name = "melu-paper"
  return c
