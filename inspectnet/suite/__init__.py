"""The acceptance suites that ship with the plugin: accuracy, parity, deployment candidates and latency, each
with its self-check (the criteria must fail on a planted defect of the same model).

A project collects them from its ``inspectnet.toml`` (``inspectnet.collect``): the project's profile is the
suite's test file, and every item's id starts with it (``inspectnet.toml::parity::test_parity[bottle-openvino]``).
"""

SUITES = (
    "accuracy",
    "accuracy_self_check",
    "parity",
    "parity_self_check",
    "candidates",
    "candidates_self_check",
    "latency",
)
