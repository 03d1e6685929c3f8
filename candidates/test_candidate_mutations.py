"""This repository runs the packaged deployment-candidates self-check (``inspectnet/suite/candidates_self_check.py``):
the criteria must fail on a planted defect of the same model. A project collects it from its ``inspectnet.toml``."""

from inspectnet.suite.candidates_self_check import *  # noqa: F403
