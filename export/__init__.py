"""``python -m export``: export trained weights to ONNX (fp32 and int8) and check them. See ``export/__main__.py``."""
