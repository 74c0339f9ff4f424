"""jaxrec.metrics: exact, tie-aware evaluation metrics (numpy, float64, on host)."""

from jaxrec.metrics.catalogue import batch_full_catalogue
from jaxrec.metrics.catalogue import coverage_at_k
from jaxrec.metrics.catalogue import diversity_at_k
from jaxrec.metrics.catalogue import item_popularity
from jaxrec.metrics.catalogue import novelty_at_k
from jaxrec.metrics.catalogue import top_k_items
from jaxrec.metrics.direction import higher_is_better
from jaxrec.metrics.direction import is_better
from jaxrec.metrics.evaluate import SUPPORT_BINS
from jaxrec.metrics.evaluate import evaluate_predictions
from jaxrec.metrics.evaluate import mean_by_support_size
from jaxrec.metrics.evaluate import per_user_metrics
from jaxrec.metrics.evaluate import relevance_threshold_for
from jaxrec.metrics.evaluate import summarize
from jaxrec.metrics.ranking import auc
from jaxrec.metrics.ranking import f1_at_k
from jaxrec.metrics.ranking import full_catalogue_ranking
from jaxrec.metrics.ranking import indicator_matrix
from jaxrec.metrics.ranking import ndcg_at_k
from jaxrec.metrics.ranking import ndcg_exp_at_k
from jaxrec.metrics.ranking import per_user_auc
from jaxrec.metrics.ranking import per_user_f1_at_k
from jaxrec.metrics.ranking import per_user_full_catalogue
from jaxrec.metrics.ranking import per_user_ndcg_at_k
from jaxrec.metrics.ranking import per_user_ndcg_exp_at_k
from jaxrec.metrics.ranking import per_user_precision_at_k
from jaxrec.metrics.ranking import per_user_recall_at_k
from jaxrec.metrics.ranking import precision_at_k
from jaxrec.metrics.ranking import recall_at_k
from jaxrec.metrics.rating import mae
from jaxrec.metrics.rating import per_user_mae
from jaxrec.metrics.rating import per_user_rmse
from jaxrec.metrics.rating import rmse

__all__ = [
    "auc",
    "batch_full_catalogue",
    "coverage_at_k",
    "diversity_at_k",
    "evaluate_predictions",
    "f1_at_k",
    "full_catalogue_ranking",
    "higher_is_better",
    "indicator_matrix",
    "is_better",
    "item_popularity",
    "mae",
    "mean_by_support_size",
    "ndcg_at_k",
    "ndcg_exp_at_k",
    "novelty_at_k",
    "per_user_auc",
    "per_user_f1_at_k",
    "per_user_full_catalogue",
    "per_user_mae",
    "per_user_metrics",
    "per_user_ndcg_at_k",
    "per_user_ndcg_exp_at_k",
    "per_user_precision_at_k",
    "per_user_recall_at_k",
    "per_user_rmse",
    "precision_at_k",
    "recall_at_k",
    "relevance_threshold_for",
    "rmse",
    "summarize",
    "SUPPORT_BINS",
    "top_k_items",
]
