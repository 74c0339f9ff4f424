r"""Meta-learned implicit fold-in on HetRec Last.fm, full-catalogue softmax.

  python -m experiments.meta_train --config=experiments/configs/foldin_lastfm.py \
      --workdir=workdirs/foldin_lastfm --evaluate

``s(i) = b_i + q_i · p_u`` (``jaxrec.models.foldin``; item side from the artist id
and its training-user top tags). The user part is the implicit-ALS fold-in of the
listened support artists (positives only: ``data.negatives = 0``), every other
training artist an observed 0 with a learned weight, towards a meta-learned prior
with learned shrinkage. The outer loop trains item side, prior, shrinkage and the
unobserved weight for the softmax of the query positives over the whole training
catalogue; validation selects on full-catalogue nDCG@10 of the validation users.
"""

from experiments.configs import default

# The grid searched on validation users (seed 0); get_config() holds the choice.
GRID = {"model.kwargs.rank": (32,), "optimizer.learning_rate": (3e-3,)}


def get_config():
  c = default.get_config()
  c.data.dataset = "lastfm"
  c.data.negatives = 0
  c.name = "foldin-solve"
  c.model.name = "foldin"
  c.model.kwargs = {"rank": 32, "use_ids": True, "use_side": True, "set_prior": False,
                    "unobserved_weight": 0.01, "loss": "softmax"}
  c.meta.algorithm = "maml"
  c.meta.adapter = "solve"
  c.meta.num_steps = 0
  c.optimizer.learning_rate = 3e-3
  c.optimizer.weight_decay = 0.1
  c.best_metric = "full_ndcg@10"
  c.num_epochs = 30
  c.eval_every = 25
  c.patience = 6
  return c
