r"""MeLU meta-trained with exact second-order MAML on MovieLens-100K (the main job).

  python -m experiments.meta_train --config=experiments/configs/maml_ml100k.py \
      --workdir=workdirs/maml_ml100k --evaluate

Data: ``$JAXREC_DATA_DIR/ml-100k`` (or ``--config.data.data_dir=DIR``; add
``--config.data.download=True`` to fetch and sha256-verify the official archive).
Protocol: users with 13-100 ratings, seeded 8:1:1 user and item splits, 10 query
ratings; the four cold-start states. Inner loop: 3 steps on the MLP (embeddings
shared), as MeLU adapts only its decision layers.

This is the tuned MeLU variant (``melu_paper_ml100k.py`` has the paper's settings):
inner lr in {0.01, 0.05} and id embeddings on/off were chosen on the validation
users' new_users RMSE at seed 0 (best 0.9495 with ids and lr 0.01; 0.9676
without ids at lr 0.01; 0.9773 without ids at lr 0.05), a budget no larger than the
baselines' grids in ``jaxrec.tuned_baselines`` (3-9 points each).
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.data.dataset = "ml-100k"
  c.model.name = "melu"
  c.model.kwargs.use_ids = True     # item/user id embeddings (0 for every held-out id)
  c.meta.algorithm = "maml"
  c.meta.inner_lr = 0.01
  c.meta.num_steps = 3
  c.optimizer.learning_rate = 1e-3
  c.num_epochs = 30
  c.eval_every = 25
  return c
