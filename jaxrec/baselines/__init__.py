"""jaxrec.baselines: trivial-but-strong baselines predicting for episode batches."""

from jaxrec.baselines.base import Baseline
from jaxrec.baselines.mf import MatrixFactorization
from jaxrec.baselines.mf import ridge_solve
from jaxrec.baselines.search import GridSearchResult
from jaxrec.baselines.search import grid_search
from jaxrec.baselines.simple import GlobalMean
from jaxrec.baselines.simple import ItemMean
from jaxrec.baselines.simple import ItemMeanUserBias
from jaxrec.baselines.simple import Popularity
from jaxrec.baselines.simple import UserMean
from jaxrec.baselines.simple import damped_item_means
