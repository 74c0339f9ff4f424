"""jaxrec.baselines: trivial-but-strong baselines predicting for episode batches."""

from jaxrec.baselines import cache
from jaxrec.baselines.base import Baseline
from jaxrec.baselines.content import ContentKNN
from jaxrec.baselines.content import ContentToFactor
from jaxrec.baselines.content import sparse_item_vectors
from jaxrec.baselines.ease import EASE
from jaxrec.baselines.ials import ImplicitALS
from jaxrec.baselines.knn import ItemKNN
from jaxrec.baselines.knn import ItemKNNBaseline
from jaxrec.baselines.mf import MatrixFactorization
from jaxrec.baselines.mf import ridge_solve
from jaxrec.baselines.profile import ProfileMeans
from jaxrec.baselines.search import GridSearchResult
from jaxrec.baselines.search import grid_search
from jaxrec.baselines.simple import GlobalMean
from jaxrec.baselines.simple import ItemMean
from jaxrec.baselines.simple import ItemMeanUserBias
from jaxrec.baselines.simple import Popularity
from jaxrec.baselines.simple import UserMean
from jaxrec.baselines.simple import damped_item_means
from jaxrec.baselines.simple import damped_mean

__all__ = [
    "Baseline",
    "cache",
    "ContentKNN",
    "ContentToFactor",
    "damped_item_means",
    "damped_mean",
    "EASE",
    "GlobalMean",
    "grid_search",
    "GridSearchResult",
    "ImplicitALS",
    "ItemKNN",
    "ItemKNNBaseline",
    "ItemMean",
    "ItemMeanUserBias",
    "MatrixFactorization",
    "Popularity",
    "ProfileMeans",
    "ridge_solve",
    "sparse_item_vectors",
    "UserMean",
]
