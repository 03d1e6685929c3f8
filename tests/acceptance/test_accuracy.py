"""This repository runs the packaged accuracy suite (``inspectnet/suite/accuracy.py``), the same tests a project
collects from its ``inspectnet.toml``."""

from inspectnet.suite.accuracy import *  # noqa: F403
