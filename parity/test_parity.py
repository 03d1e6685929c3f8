"""This repository runs the packaged parity suite (``inspectnet/suite/parity.py``), the same tests a project
collects from its ``inspectnet.toml``."""

from inspectnet.suite.parity import *  # noqa: F403
