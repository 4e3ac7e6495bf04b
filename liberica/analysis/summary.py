"""Human-readable summaries of a processing run."""

from __future__ import annotations

from rich.table import Table

from liberica.processors.histograms import DATA_PROCESS, NOMINAL


def yield_table(result) -> Table:
    """Nominal yields (weighted, with flow bins) per region and process, and data."""
    regions = list(result.histograms)
    first = result.histograms[regions[0]]
    processes = [p for p in first.axes["process"] if p != DATA_PROCESS]
    table = Table(title="Nominal yields (all bins, flow included)")
    table.add_column("region")
    for process in processes:
        table.add_column(process, justify="right")
    table.add_column("total MC", justify="right")
    table.add_column("data", justify="right")
    for region in regions:
        h = result.histograms[region]
        yields = [float(h[:, p, NOMINAL].values(flow=True).sum()) for p in processes]
        data = float(h[:, DATA_PROCESS, NOMINAL].values(flow=True).sum())
        table.add_row(region, *(f"{y:.2f}" for y in yields), f"{sum(yields):.2f}", f"{data:.0f}")
    return table
