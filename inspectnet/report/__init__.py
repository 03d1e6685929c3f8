"""Reporting: records collected from the test session (and xdist workers), the card, figures, provenance,
checksums and merging of report sets.

A reports root holds ``eval_harness/*.json`` (the records), ``figures/*.png``, ``MODEL_CARD.md``,
``PROVENANCE.md`` and ``CHECKSUMS.sha256``.
"""

RECORDS_DIR = "eval_harness"
FIGURES_DIR = "figures"
