"""Human-readable summaries of a processing run."""

from __future__ import annotations

from rich.table import Table

from liberica.processors.histograms import DATA_PROCESS, NOMINAL


def _yield(value: float) -> str:
    """A yield with the digits that matter: 53,233 / 622.4 / 0.59."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"


def yield_table(result) -> Table:
    """Nominal yields (weighted, with flow bins) per region and process, and data; consecutive
    regions of equal yields (e.g. one selection's features) share one row. A blinded run
    shows no data total of a region whose selection has hidden bins (``blinded``)."""
    regions = list(result.histograms)
    first = result.histograms[regions[0]]
    processes = [p for p in first.axes["process"] if p != DATA_PROCESS]
    table = Table(title="Nominal yields (all bins, flow included)")
    table.add_column("region", overflow="fold")  # long names fold, never cut
    for process in processes:
        table.add_column(process, justify="right")
    table.add_column("total MC", justify="right")
    table.add_column("data", justify="right")
    withheld = set(result.metrics.get("blinding", {}).get("withheld_totals", ()))
    rows: list[tuple[list[str], list[str]]] = []  # (regions, cells): equal rows merged
    for region in regions:
        h = result.histograms[region]
        yields = [float(h[..., p, NOMINAL].values(flow=True).sum()) for p in processes]
        data = float(h[..., DATA_PROCESS, NOMINAL].values(flow=True).sum())
        shown = "blinded" if region in withheld else f"{data:,.0f}"
        cells = [*map(_yield, yields), _yield(sum(yields)), shown]
        if rows and rows[-1][1] == cells:
            rows[-1][0].append(region)
        else:
            rows.append(([region], cells))
    for names, cells in rows:
        label = (
            names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]} ({len(names)} regions)"
        )
        table.add_row(label, *cells)
    return table
