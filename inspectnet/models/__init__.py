"""Detectors: backbone weights, anomalib training with shared features, and the artifact store."""
