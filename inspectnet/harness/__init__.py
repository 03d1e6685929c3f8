"""Orchestration: the acceptance session (train, deploy, export; memoised) and the runs built on it
(latency, parity, the ablation, the parity margin). Plain Python; the pytest plugin and the CLI sit above it."""
