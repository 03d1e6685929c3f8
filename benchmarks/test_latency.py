"""This repository runs the packaged latency suite (``inspectnet/suite/latency.py``), the same tests a project
collects from its ``inspectnet.toml``: ``pytest benchmarks --device cpu|cuda``."""

from inspectnet.suite.latency import *  # noqa: F403
