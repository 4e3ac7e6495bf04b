"""The cabinetry configuration of an analysis, generated from its definition.

Histograms reach cabinetry from the run's ``histograms.root`` through
``cabinetry.templates.collect``: the file is the run's durable output, readable
by ROOT and by anyone who edits the generated config and re-runs the fit, so
the fit does not depend on the pickled hist objects of one liberica version.
"""

from __future__ import annotations

import pathlib
from typing import Any

import cabinetry
import yaml

from liberica.core.definition import AnalysisDefinition

POI = "mu"
DATA_SAMPLE = "data"


def build_config(
    definition: AnalysisDefinition,
    run_dir: pathlib.Path,
    template_systematics: bool = True,
    histogram_folder: pathlib.Path | None = None,
) -> dict[str, Any]:
    """A validated cabinetry config for the run in ``run_dir``.

    It has the definition's fit regions, its samples with data marked, a free
    NormFactor ``mu`` on the fit's signal processes (``fit.signal``; other signal
    processes are left out of the model), every weight, object and sample
    systematic as NormPlusShape (one-sided ones arrive already symmetrized by
    the processor), and the luminosity and per-background cross-section
    uncertainties as Normalization.

    Args:
        definition: the analysis
        run_dir: the run, with its histograms.root
        template_systematics: False for a nominal-only run (``--no-systematics``),
            which has no variation templates: the model keeps the normalizations
            and the MC-statistics gammas only
        histogram_folder: where cabinetry keeps the collected templates
            [default: ``run_dir/fit/histograms``]
    """
    run_dir = pathlib.Path(run_dir).resolve()
    signals = list(definition.fit_signal)
    # other signal-like processes (other mass points) stay out of the model
    in_model = [
        p.name for p in definition.processes.values() if p.kind != "signal" or p.name in signals
    ]
    systematics: list[dict[str, Any]] = [
        {
            "Name": s.name,
            "Type": "NormPlusShape",
            "Up": {"VariationPath": f"{s.name}Up"},
            "Down": {"VariationPath": f"{s.name}Down"},
        }
        for s in definition.systematics.values()
        if template_systematics
    ]
    lumi = definition.luminosity_uncertainty
    systematics.append(
        {
            "Name": "luminosity",
            "Type": "Normalization",
            "Up": {"Normalization": lumi},
            "Down": {"Normalization": -lumi},
        }
    )
    for process in definition.processes.values():
        if process.kind == "background" and process.xsec_uncertainty:
            u = process.xsec_uncertainty
            systematics.append(
                {
                    "Name": f"xsec_{process.name}",
                    "Type": "Normalization",
                    "Samples": process.name,
                    "Up": {"Normalization": u},
                    "Down": {"Normalization": -u},
                }
            )
    config = {
        "General": {
            "Measurement": definition.name,
            "POI": POI,
            "InputPath": f"{run_dir / 'histograms.root'}:{{RegionPath}}_{{SamplePath}}_{{VariationPath}}",
            "HistogramFolder": str(histogram_folder or run_dir / "fit" / "histograms"),
            "VariationPath": "nominal",
        },
        "Regions": [{"Name": r, "RegionPath": r} for r in definition.fit_regions],
        "Samples": [{"Name": DATA_SAMPLE, "SamplePath": DATA_SAMPLE, "Data": True}]
        + [{"Name": p, "SamplePath": p} for p in in_model],
        "NormFactors": [{"Name": POI, "Samples": signals, "Nominal": 1, "Bounds": [-5, 10]}],
        "Systematics": systematics,
    }
    cabinetry.configuration.validate(config)
    return config


def write_config(config: dict[str, Any], path: pathlib.Path) -> None:
    """Write a cabinetry config as YAML, for the user to edit and re-run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def read_config(path: pathlib.Path) -> dict[str, Any]:
    """Read and validate a (possibly edited) cabinetry config.

    Raises:
        FitInputError: naming the file and what is wrong with it
    """
    from liberica.fits.measurement import FitInputError

    try:
        return cabinetry.configuration.load(path)
    except yaml.YAMLError as err:
        raise FitInputError(f"cabinetry config {path}: not valid YAML: {err}") from None
    except Exception as err:  # jsonschema's ValidationError, a missing key
        reason = getattr(err, "message", None) or str(err).splitlines()[0]
        where = ".".join(str(k) for k in getattr(err, "absolute_path", []))
        raise FitInputError(
            f"cabinetry config {path}{f' at {where!r}' if where else ''}: {reason}"
        ) from None
