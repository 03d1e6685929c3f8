"""Deployment of a trained model: anomalib post-processing, ONNX / OpenVINO export, and runtimes."""
