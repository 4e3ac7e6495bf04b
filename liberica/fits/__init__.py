"""Fits: cabinetry config and pyhf workspace from a run's histograms, and the fit.

Nothing here knows about coffea: the input is a run directory's histograms.root.
"""
