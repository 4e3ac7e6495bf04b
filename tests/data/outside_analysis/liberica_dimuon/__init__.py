"""The dimuon mass of the two leading opposite-charge muons: a minimal liberica analysis."""

from liberica.core.registry import Analysis

ANALYSIS = Analysis(
    name="dimuon",
    package="liberica_dimuon",
    processor="liberica_dimuon.processor:DimuonProcessor",
    selections=("dimuon",),
    variables=("mll", "ptll"),
)
