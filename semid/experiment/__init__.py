"""The experiment runner: the whole pipeline over a grid of configs, with stage caching."""

from semid.experiment.config import ExperimentConfig, load_experiment_config
from semid.experiment.runner import plan_variants, run_experiment

__all__ = ["ExperimentConfig", "load_experiment_config", "plan_variants", "run_experiment"]
