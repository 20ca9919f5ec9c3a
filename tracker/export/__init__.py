"""Export trained weights to the ONNX pair of ``tracker/onnx_format.py`` (fp32 and int8), checked against torch.

``python -m tracker.export --weights weights/X.pt`` is the command (``--help``); the pieces are
``tracker.export.exporter`` (torch -> ONNX, parity checks) and ``tracker.export.quantize``
(static int8 with onnxruntime's quantiser, no torch). Needs the ``export`` extra (``onnx``).
Importing this package imports nothing heavy.
"""
