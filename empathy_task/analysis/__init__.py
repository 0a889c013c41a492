"""The analysis: a rating table -> the study's statistics.

- :mod:`.stats`: the statistics as pure functions of counts and arrays, in the manner of
  ``scipy.stats`` (arrays in, small named results out, no printing). The report's numbers come from
  these functions, and the statistics tests test them.
- :mod:`.ppi`: prediction-powered inference of a mean (a crowd sample plus a judge's ratings);
- :mod:`.results`: the result types (:class:`Analysis` and its parts);
- :mod:`.steps`: the analysis steps: count grid -> groups, comparisons, families, agreement, quality.
"""

from empathy_task.analysis import stats
from empathy_task.analysis.results import Analysis, AnalysisOptions
from empathy_task.analysis.steps import analyse

__all__ = ["Analysis", "AnalysisOptions", "analyse", "stats"]
