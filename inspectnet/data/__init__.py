"""Datasets in MVTec AD layout: the reader/validator and the embedded synthetic set."""

from __future__ import annotations

from inspectnet.data.layout import (
    GOOD,
    Category,
    CategorySummary,
    DataError,
    TestSample,
    find_categories,
    load_category,
    read_image,
    read_mask,
)

__all__ = [
    "GOOD",
    "Category",
    "CategorySummary",
    "DataError",
    "TestSample",
    "find_categories",
    "load_category",
    "read_image",
    "read_mask",
]
