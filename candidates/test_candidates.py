"""This repository runs the packaged deployment-candidates suite (``inspectnet/suite/candidates.py``), the same
tests a project collects from its ``inspectnet.toml``."""

from inspectnet.suite.candidates import *  # noqa: F403
