"""The LHC Olympics 2020 R&D-style dijet anomaly search (placeholder: the lead writes the
analysis's registration; the generator lives in ``generator.py``)."""
