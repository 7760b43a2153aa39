"""``manage.py train_scorecard --dataset german|portfolio [--as-of DATE]``: train, evaluate (stratified
k-fold CV + holdout: AUC, KS, Gini), print, and store a draft ``ScorecardVersion`` that staff
activate in the admin after reading its evaluation."""
from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Train a points scorecard (optimal WOE binning + logistic regression) and store it as a draft version."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", choices=["german", "portfolio"], required=True)
        parser.add_argument("--as-of", dest="as_of", help="Observation date for --dataset portfolio (YYYY-MM-DD).")
        parser.add_argument("--outcome-months", type=int, default=6,
                            help="Portfolio: bad = DPD ≥ --bad-dpd within this many months after --as-of.")
        parser.add_argument("--bad-dpd", type=int, default=60, help="Portfolio: days past due that make an account bad.")
        parser.add_argument("--name", help="Version name (default: the data set's name).")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--holdout", type=float, default=0.25)
        parser.add_argument("--C", dest="C", type=float, default=0.1, help="Inverse L2 strength of the regression.")
        parser.add_argument("--dry-run", action="store_true", help="Evaluate and print; store nothing.")
        parser.add_argument("--export", metavar="FILE",
                            help="Also write the trained version (table, metrics, training) as JSON, e.g. the demo's "
                                 "risk/fixtures/german_scorecard.json that seed_demo loads without the training stack.")

    def handle(self, *args, **options):
        # The training libraries are imported here, never by the web process.
        from risk.training.datasets import DatasetUnavailable, load_german
        from risk.training.pipeline import TrainingParams, train

        if options["dataset"] == "german":
            if options["as_of"]:
                raise CommandError("--as-of only applies to --dataset portfolio")
            try:
                dataset = load_german()
            except DatasetUnavailable as exc:
                raise CommandError(str(exc)) from None
        else:
            if not options["as_of"]:
                raise CommandError("--dataset portfolio needs --as-of DATE")
            try:
                as_of = dt.date.fromisoformat(options["as_of"])
            except ValueError:
                raise CommandError("--as-of must be a date (YYYY-MM-DD)") from None
            from risk.training.portfolio import load_portfolio

            try:
                dataset = load_portfolio(as_of=as_of, outcome_months=options["outcome_months"], bad_dpd=options["bad_dpd"])
            except DatasetUnavailable as exc:
                raise CommandError(str(exc)) from None

        params = TrainingParams(seed=options["seed"], folds=options["folds"], holdout=options["holdout"], C=options["C"])
        self.stdout.write(f"Training on {dataset.description} ({len(dataset.y)} rows, bad rate {dataset.y.mean():.1%})…")
        result = train(dataset, params)
        self._print(result)
        if options["export"]:
            import json
            from pathlib import Path

            payload = {"name": options["name"] or dataset.name, "purpose": dataset.purpose, "dataset": dataset.name,
                       "table": result.table, "metrics": result.metrics, "training": result.training}
            Path(options["export"]).write_text(json.dumps(payload, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                                               encoding="utf-8")
            self.stdout.write(f"Wrote {options['export']}.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing stored.")
            return
        from risk.services import scorecard_version_create

        version = scorecard_version_create(
            name=options["name"] or dataset.name, purpose=dataset.purpose, dataset=dataset.name,
            table=result.table, metrics=result.metrics, training=result.training,
        )
        self.stdout.write(self.style.SUCCESS(
            f"Stored {version.label} as a draft: activate it in the admin after reading its evaluation."
        ))

    def _print(self, result) -> None:
        m = result.metrics
        cv, hold = m["cv"], m["holdout"]
        self.stdout.write(
            f"Stratified {cv['folds']}-fold CV: CV AUC {cv['auc']:.4f} (± {cv['auc_std']:.4f})  KS {cv['ks']:.4f}  Gini {cv['gini']:.4f}"
        )
        for i, fold in enumerate(cv["per_fold"], 1):
            self.stdout.write(f"  fold {i}: AUC {fold['auc']:.4f}  KS {fold['ks']:.4f}  n={fold['n']} bads={fold['bads']}")
        self.stdout.write(
            f"Holdout ({hold['n']} rows, {hold['bads']} bads): AUC {hold['auc']:.4f}  KS {hold['ks']:.4f}  Gini {hold['gini']:.4f}"
        )
        if "baseline" in m:
            verdict = "beats" if cv["auc"] > m["baseline"]["auc"] else "does NOT beat"
            self.stdout.write(f"Published baseline AUC {m['baseline']['auc']}: this scorecard {verdict} it.")
        self.stdout.write(f"Attributes in the scorecard: {len(result.table['variables'])}; "
                          f"excluded: {', '.join(result.training['excluded_variables']) or 'none'}")
