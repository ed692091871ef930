"""Evaluation: metrics, dense and popularity baselines, generative evaluation, significance tests.

Nothing is imported here, so importing one module (``semid.evaluate.metrics``) stays light.
"""
