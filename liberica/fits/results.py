"""The typed result of a template fit, held in memory; ``results.json`` is its ``to_dict``.

Like cabinetry's ``FitResults``/``RankingResults``/``LimitResults``, every number
a fit measures is a field here, so a notebook reads them without files, and the
JSON written by :func:`liberica.fits.run.write` is one view of the same object.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from cabinetry.fit.results_containers import FitResults

from liberica.fits.impacts import GroupedImpacts, uncertainty_breakdown
from liberica.fits.labels import parameter_label, region_units
from liberica.fits.limit import UpperLimit
from liberica.fits.measurement import SignalStrength, Significance
from liberica.fits.ranking import Impact

#: bumped when a key of results.json changes name, sign or meaning
#: (2: signed ``down`` errors, p0, goodness of fit, post-fit yields, provenance, status)
RESULTS_SCHEMA_VERSION = 2


class GoodnessOfFit(NamedTuple):
    """The saturated-model goodness of fit.

    Attributes:
        p_value: chi2 survival probability of ``twice_delta_nll`` (NaN with no
            degrees of freedom)
        twice_delta_nll: -2 ln (L_best / L_saturated)
        ndof: bins minus free (unconstrained, floating) parameters
    """

    p_value: float
    twice_delta_nll: float
    ndof: int


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Everything a template fit measured.

    Attributes:
        mu: mu with total and stat-only MINOS errors (``down`` negative)
        expected: the same on the pre-fit Asimov data set (mu = 1)
        significance: observed and expected discovery Z with their p0
        upper_limit: observed and expected CLs limits with the scan
        ranking: impacts on mu, largest first (empty without a ranking)
        ranking_gamma_threshold: the MC-statistics pruning threshold, or None
        pulls: pull and constraint of every constrained parameter
        postfit_yields: ``{region: {sample or "total": {"yield", "uncertainty"}}}``
        goodness_of_fit: the saturated-model test
        asimov: the fit was made to the Asimov data set
        model_kind: ``full``, ``no_template_systematics`` or ``user_config``
        templates: what the template rules changed (merged, floored, emptied)
        systematics: the model's modifiers by kind
        fit_status: each step's fit status
        fits_with_retries: one line per fit that needed more than one attempt
        timing_s: seconds per step
        injected_mu, lumi_fb: the run's, when known
        pseudo_data: the data are generated pseudo-data
        provenance: liberica version, command, time, fileset, definition digest
        workspace: the pyhf workspace fitted
        fit_results: cabinetry's container of the total fit (best fit, errors,
            correlations), for cabinetry's own functions
        prefit_widths: each parameter's pre-fit width (0 for free ones)
        definition: the analysis definition, for plots (None: no data/MC plots)
        edges: each region's bin edges after merging, for plots
        config: the cabinetry config the workspace was built from, when known
        figures: the written figures, relative to the fit folder's parent
        grouped_impacts: the impacts of the groups of nuisance parameters on mu, or None
            (not measured)
        blinding: the run's blinding summary (``blinding.json``) when the fit is
            blinded: then it fitted the Asimov data set only, and results.json holds no
            number of the data (no observed mu, Z, limit or goodness of fit); else None
    """

    mu: SignalStrength
    expected: SignalStrength
    significance: Significance
    upper_limit: UpperLimit
    ranking: list[Impact]
    ranking_gamma_threshold: float | None
    pulls: list[dict[str, Any]]
    postfit_yields: dict[str, dict[str, dict[str, float]]]
    goodness_of_fit: GoodnessOfFit
    asimov: bool
    model_kind: str
    templates: dict[str, Any]
    systematics: dict[str, Any]
    fit_status: dict[str, Any]
    fits_with_retries: list[str]
    timing_s: dict[str, float]
    injected_mu: float | None
    lumi_fb: float | None
    pseudo_data: bool
    provenance: dict[str, Any]
    workspace: dict[str, Any] = dataclasses.field(repr=False)
    fit_results: FitResults = dataclasses.field(repr=False)
    prefit_widths: dict[str, float] = dataclasses.field(repr=False)
    definition: Any = dataclasses.field(default=None, repr=False)
    edges: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    config: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    figures: list[str] = dataclasses.field(default_factory=list)
    grouped_impacts: GroupedImpacts | None = None
    blinding: dict[str, Any] | None = dataclasses.field(default=None, repr=False)

    @property
    def blinded(self) -> bool:
        """The run is blinded: the fit saw the Asimov data set only."""
        return self.blinding is not None

    @property
    def status(self) -> str:
        """``ok`` when every fit converged (at its first attempt or down the retry ladder,
        ``fits_with_retries``), else ``warnings`` (the reasons in :attr:`warnings`)."""
        return "warnings" if self.warnings else "ok"

    @property
    def warnings(self) -> list[str]:
        """What a reader of the numbers should know: fits that did not converge (a ranking
        refit, a fit of the CLs scan or the significance), whose numbers are less sure."""
        lines = []
        for step, content in self.fit_status.items():
            failed = content.get("failed") if "n_fits" in content else None
            if failed:
                lines.append(f"{step}: {len(failed)} of {content['n_fits']} fits did not converge")
        invalid = [i.name for i in self.ranking if not i.valid]
        if invalid and not self.fit_status.get("ranking", {}).get("failed"):
            lines.append(f"ranking: {len(invalid)} impact(s) with a refit that did not converge")
        if self.grouped_impacts is not None:
            groups = [g.name for g in self.grouped_impacts.groups if not g.valid]
            if groups and not self.fit_status.get("grouped_impacts", {}).get("failed"):
                lines.append(f"grouped impacts: no valid refit of {', '.join(groups)}")
        return lines

    def label(self, name: str) -> str:
        """A parameter's name for people, as the figures and the console show it: an
        MC-statistics gamma by its bin's range (``fits/labels.py``)."""
        units = region_units(self.definition) if self.definition is not None else "GeV"
        return parameter_label(name, self.edges, units)

    def to_dict(self) -> dict[str, Any]:
        """The content of results.json."""
        limit = self.upper_limit
        content: dict[str, Any] = {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "status": self.status,
            "warnings": self.warnings,
            "mu": {
                **self.mu._asdict(),
                "uncertainty_breakdown": uncertainty_breakdown(self.mu).to_dict(),
            },
            "expected": {
                **self.expected._asdict(),
                "uncertainty_breakdown": uncertainty_breakdown(self.expected).to_dict(),
            },
            "asimov": self.asimov,
            "model": self.model_kind,
            "significance": self.significance._asdict(),
            "upper_limit": {
                "observed": limit.observed,
                "expected": limit.expected,
                "expected_band": ["-2sigma", "-1sigma", "median", "+1sigma", "+2sigma"],
                "confidence_level": limit.confidence_level,
                "method": "asymptotic CLs, q~mu",
            },
            "goodness_of_fit": {
                **self.goodness_of_fit._asdict(),
                "method": "saturated model",
            },
            "postfit_yields": self.postfit_yields,
            "ranking": [{**i._asdict(), "label": self.label(i.name)} for i in self.ranking],
            "ranking_gamma_threshold": self.ranking_gamma_threshold,
            **(
                {"grouped_impacts": self.grouped_impacts.to_dict()}
                if self.grouped_impacts is not None
                else {}
            ),
            "pulls": [{**p, "label": self.label(p["name"])} for p in self.pulls],
            "templates": self.templates,
            "systematics": self.systematics,
        }
        if self.figures:
            content["figures"] = self.figures
        content["timing_s"] = self.timing_s
        content["fit_status"] = self.fit_status
        content["fits_with_retries"] = self.fits_with_retries
        if self.injected_mu is not None:
            content["injected_mu"] = self.injected_mu
        if self.lumi_fb is not None:
            content["lumi_fb"] = self.lumi_fb
        content["pseudo_data"] = self.pseudo_data
        content["provenance"] = self.provenance
        if self.blinded:
            _blind(content)
        return content


def _blind(content: dict[str, Any]) -> None:
    """A blinded fit's results.json: the Asimov fit as the expected one, and no observed
    number (mu, Z, limit, goodness of fit), which would be the Asimov data's anyway."""
    content["blinded"] = True
    content["data"] = "asimov"
    content.pop("mu")
    content.pop("goodness_of_fit")
    significance = content["significance"]
    content["significance"] = {k: v for k, v in significance.items() if "observed" not in k}
    content["upper_limit"].pop("observed")
