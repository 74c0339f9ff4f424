r"""Second-order MAML with MeLU on the synthetic planted-taste data (seconds on a CPU).

  python -m experiments.meta_train --config=experiments/configs/maml_synthetic.py \
      --workdir=workdirs/maml_synthetic --evaluate
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.data.dataset = "synthetic"
  c.data.synthetic = {"num_users": 300, "num_items": 400, "seed": 0}
  c.model.name = "melu"
  c.meta.algorithm = "maml"
  c.meta.inner_lr = 0.05
  c.meta.num_steps = 3
  c.optimizer.learning_rate = 3e-3
  c.num_epochs = 20
  c.eval_every = 20
  return c
