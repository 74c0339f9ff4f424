r"""MeLU + second-order MAML on HetRec-2011 Last.fm (implicit feedback).

  python -m experiments.meta_train --config=experiments/configs/maml_lastfm.py \
      --workdir=workdirs/maml_lastfm --evaluate

A listened artist is a positive (y = 1); 4 never-played artists per positive are
sampled as negatives (y = 0) by the episode layer; the loss is binary cross-entropy
on logits, validation selects on AUC. Last.fm has no timestamps: random user/item
splits only. Item features: the artist's 5 most used tags; no user features.
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.data.dataset = "lastfm"
  c.data.negatives = 4
  c.model.name = "melu"
  c.model.kwargs.use_ids = True
  c.model.kwargs.loss = "bce"
  c.meta.algorithm = "maml"
  c.meta.inner_lr = 0.05
  c.meta.num_steps = 3
  c.optimizer.learning_rate = 1e-3
  c.best_metric = "auc"
  c.num_epochs = 20
  c.eval_every = 25
  return c
