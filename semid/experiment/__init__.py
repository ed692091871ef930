"""The experiment runner: the whole pipeline over a grid of configs, with stage caching; the run
directory's layout (:class:`RunLayout`) and its typed results (:class:`ResultRecord`)."""

from semid.experiment.config import ExperimentConfig, load_experiment_config
from semid.experiment.layout import RunLayout
from semid.experiment.records import ResultRecord
from semid.experiment.results import RunResults, load_results
from semid.experiment.runner import plan_variants, run_experiment

__all__ = ["ExperimentConfig", "load_experiment_config", "plan_variants", "run_experiment", "RunLayout",
           "ResultRecord", "RunResults", "load_results"]
