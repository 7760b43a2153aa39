"""Scorecard training (imports the heavy training libraries: only the ``train_scorecard`` command
and the tests import this package)."""
