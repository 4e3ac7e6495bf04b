"""tth2lss1tau's classifiers side by side on the same folds and events (issue 27's numbers).

    python benchmarks/tth_classifiers.py [--events 600000] [--max-epochs 30]
        [--max-train-events 300000] [--d-token 64] [--blocks 3] [--only mlp:extended,...]

The embedded sample is processed once (nominal, no classifier), dumping the features of
the extended training set (the preselection) with ``in_selection`` marking the signal
region. Then, on the same folds by eventNumber:

- the FT-Transformer, the multi-class MLP and the binary MLP, trained on the extended set;
- the FT-Transformer trained on the signal region alone;

each evaluated on the signal-region events it did not train on: the one-against-rest
AUC of ttH, s/sqrt(b) and the Asimov Z of p(ttH) in ten bins of equal background (stat
only), the weighted confusion matrix's accuracy, and the training time. Models and
evaluations go under ``--out``; the summary prints as JSON lines for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import liberica
from liberica.api.processing import embedded_sample
from liberica.core.definition import without_classifier
from liberica.orchestration.multiclass_training import train_and_evaluate
from liberica.orchestration.pipeline import run_processor

RUNS = (
    ("ft_transformer", "extended"),
    ("mlp", "extended"),
    ("binary_mlp", "extended"),
    ("ft_transformer", "selection"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench-tth"))
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--max-train-events", type=int, default=300_000)
    parser.add_argument("--d-token", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument(
        "--only",
        default=None,
        help="runs to make, comma-separated ARCHITECTURE:TRAINING_SET (e.g. mlp:extended)",
    )
    args = parser.parse_args()

    definition = liberica.load_definition("tth2lss1tau")
    config = definition.classifiers["tth_ft"]
    feature_set = definition.registered().feature_sets[config.feature_set]
    sample = embedded_sample(definition, args.cache, events=args.events)
    start = time.perf_counter()
    processed = run_processor(
        without_classifier(definition),
        sample.fileset_path,
        systematics=False,
        dump_features=config,
        status=False,
    )
    table = processed.features
    print(f"dumped {len(table)} rows in {time.perf_counter() - start:.0f} s")
    wanted = set(args.only.split(",")) if args.only else None
    for architecture, training_set in RUNS:
        if wanted is not None and f"{architecture}:{training_set}" not in wanted:
            continue
        settings = {
            "max_epochs": args.max_epochs,
            "max_train_events": args.max_train_events,
            "d_token": args.d_token,
            "n_blocks": args.blocks,
        }
        start = time.perf_counter()
        trained = train_and_evaluate(
            config,
            table,
            feature_set,
            args.out / f"{architecture}_{training_set}",
            architecture=architecture,
            training_set=training_set,
            settings=settings,
            description="benchmark",
        )
        evaluation = trained.evaluation
        significance = evaluation.significance
        print(
            json.dumps(
                {
                    "architecture": architecture,
                    "training_set": training_set,
                    "rows_trained_on": trained.n_training_rows,
                    "sr_events_evaluated": trained.n_evaluated,
                    "auc_tth": round(evaluation.roc[trained.classes[0]].auc, 4),
                    "auc": {k: round(v.auc, 4) for k, v in evaluation.roc.items()},
                    "s_over_sqrt_b": round(significance["s_over_sqrt_b"], 3),
                    "asimov_z": round(significance["asimov_z"], 3),
                    "accuracy": round(evaluation.confusion.accuracy, 4),
                    "epochs": [r.epochs for r in trained.reports],
                    "stop": [r.stop_reason for r in trained.reports],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
