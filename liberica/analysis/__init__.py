"""The analyses, one package each (``hzz4l``, ``hllj``), registered by name."""
