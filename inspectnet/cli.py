"""The ``inspectnet`` console script: the suite's records and data outside pytest.

Exit codes: 0 ok, 1 failed or regressed, 2 unusable input (a one-line error naming the file or option).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from inspectnet.data.layout import DataError
from inspectnet.harness.settings import GATE_MODES, PROJECT_FILE, STORE_DIR
from inspectnet.records import RecordError
from inspectnet.report.budget import DEFAULT_MARGIN

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_TOLERANCE = 0.02  # inspectnet init --from-current: each criterion's slack below today's value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {value}")
    return value


def _cmd_data_synth(args: argparse.Namespace) -> int:
    import time

    from inspectnet.data.synthetic import SIZES_DEFAULT, ensure

    started = time.perf_counter()
    status = ensure(args.out, args.seed, args.sizes)
    elapsed = time.perf_counter() - started
    at = "" if args.sizes == SIZES_DEFAULT else f", {args.sizes} sizes"
    print(f"{args.out}: embedded synthetic dataset (seed {args.seed}{at}) {status} in {elapsed:.1f} s")
    return EXIT_OK


def _cmd_data_check(args: argparse.Namespace) -> int:
    from inspectnet.builders import dataset_check_record
    from inspectnet.criteria import CriteriaError
    from inspectnet.data.check import check_dataset, format_summary
    from inspectnet.records import write_record

    if args.profile is not None and not args.profile.is_file():
        print(
            f"inspectnet: error: --profile {args.profile}: no such file; give a criteria profile or omit --profile",
            file=sys.stderr,
        )
        return EXIT_USAGE
    result = check_dataset(args.root, args.category)
    for line in result.errors:
        print(f"inspectnet: error: {line}", file=sys.stderr)
    if len(result.errors) > 1:
        print(f"inspectnet: {args.root}: {len(result.errors)} problems; nothing was written", file=sys.stderr)
    if result.errors:
        return EXIT_USAGE
    try:
        tolerances = image_auroc_tolerances(args.profile, result.dataset)
    except CriteriaError as exc:
        print(f"inspectnet: error: --profile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_summary(result))
    record = dataset_check_record(result, tolerances)
    for c in record.categories:
        if c.image_auroc_step is not None:
            needed = ", ".join(f"{t}: {n:,}" for t, n in (c.paired_images_needed or {}).items())
            print(
                f"{c.category}: image AUROC moves in steps of {c.image_auroc_step:.4f}; test images a paired test "
                f"needs per image-AUROC tolerance: {needed}"
            )
    if record.planning:
        print(f"(paired: {record.planning})")
    if args.report is not None:
        write_record(args.report, record)
        print(f"report: {args.report}")
    return EXIT_OK


def image_auroc_tolerances(profile: Path | None, dataset: str) -> list[float]:
    """The image-AUROC tolerances a profile judges by (default: the packaged profile of the dataset's kind)."""
    from inspectnet.criteria import load_profile, packaged

    default = packaged("synthetic" if dataset == "synthetic" else "mvtec_ad")
    return load_profile(profile if profile is not None else default).image_auroc_tolerances()


def _cmd_card(args: argparse.Namespace) -> int:
    from inspectnet.report.build import render_card

    path = render_card(args.reports)
    print(f"{path}: rendered (with PROVENANCE.md, CHECKSUMS.sha256 and figures in {args.reports})")
    return EXIT_OK


def _cmd_report_merge(args: argparse.Namespace) -> int:
    from inspectnet.report.build import merge

    if args.out.resolve() in {s.resolve() for s in args.sources}:
        print(f"inspectnet: error: --out {args.out} is also a source; merge into a new directory", file=sys.stderr)
        return EXIT_USAGE
    count = merge(args.out, args.sources)
    print(
        f"{args.out}: {count} records and figures from {len(args.sources)} report sets; "
        f"render it with: inspectnet card --reports {args.out}"
    )
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from inspectnet._io import atomic_write_json
    from inspectnet.criteria import CriteriaError, load_profile, packaged
    from inspectnet.gate import compare
    from inspectnet.harness.ab import measurer

    project = Path(PROJECT_FILE)
    try:
        profile = load_profile(args.criteria or (project if project.is_file() else packaged("synthetic")))
    except CriteriaError as exc:
        print(f"inspectnet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for directory in args.artifacts:
        if not directory.is_dir():
            print(f"inspectnet: error: --artifacts {directory}: no such directory", file=sys.stderr)
            return EXIT_USAGE
    settings = profile.gate
    ab = None
    if args.gate_mode == "auto":
        ab = measurer([args.store_dir, *args.artifacts], settings)
    result = compare(args.baseline, args.current, settings, ab)
    print(result.table())
    if args.json is not None:
        atomic_write_json(args.json, result.as_json())
        print(f"verdict: {args.json}")
    return result.exit_code


def _margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--margin must be a fraction such as 0.25, got {text!r}") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"--margin must be in [0, 10), got {value}")
    return value


def _cmd_budget(args: argparse.Namespace) -> int:
    from inspectnet._io import atomic_write_text
    from inspectnet.records import LatencyRecord, now
    from inspectnet.report import RECORDS_DIR
    from inspectnet.report.budget import as_toml, class_budgets
    from inspectnet.report.load import load_reports

    source: Path = args.source
    directory = source / RECORDS_DIR if (source / RECORDS_DIR).is_dir() else source
    reports = load_reports(source, directory)
    budgets = class_budgets([s.record for s in reports.of(LatencyRecord)], args.margin)
    if args.machine_class is not None and len(budgets) > 1:
        shown = ", ".join(f"{b.device} {b.machine_class}" for b in budgets)
        print(f"inspectnet: error: --class names one class, but {source} holds several ({shown})", file=sys.stderr)
        return EXIT_USAGE
    text = "\n".join(as_toml(b, str(source), args.margin, now(), args.machine_class) for b in budgets)
    if args.out is None:
        print(text, end="")
    else:
        atomic_write_text(args.out, text)
        print(f"budget: {args.out} (add it to your criteria profile, or pass the profile with --criteria)")
    return EXIT_OK


def _tolerance(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tolerance must be a number such as 0.02, got {text!r}") from None


def _model(text: str) -> tuple[str, str]:
    """``--model CATEGORY=PATH`` (the plugin's parser, its messages naming init's option)."""
    from inspectnet.harness.settings import PREFIX
    from inspectnet.options import _category_value

    try:
        return _category_value("model")(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace(PREFIX, "--")) from None


def _cmd_init(args: argparse.Namespace) -> int:
    from inspectnet.harness.project import InitError, init_project
    from inspectnet.harness.project_toml import InitRequest

    if args.tolerance is not None and not args.from_current:
        print("inspectnet: error: --tolerance applies to --from-current only; give both, or neither", file=sys.stderr)
        return EXIT_USAGE
    request = InitRequest(
        project=args.dir,
        data_root=args.data_root,
        model_dir=args.model_dir,
        models=tuple((c, Path(p)) for c, p in args.model or ()),
        dataset=args.dataset,
        dataset_licence=args.dataset_licence,
        weights=args.weights,
        from_current=args.from_current,
        tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
        baseline=args.baseline,
        latency_runner=args.latency_runner,
    )
    try:
        init_project(request, print)
    except InitError as exc:
        print(f"inspectnet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspectnet", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data = commands.add_parser("data", help="generate or validate a dataset in MVTec AD layout")
    data_cmds = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    synth = data_cmds.add_parser("synth", help="write the embedded synthetic dataset (MVTec AD layout)")
    synth.add_argument("--out", type=Path, required=True, help="directory to write (created or replaced whole)")
    synth.add_argument("--seed", type=_seed, default=0, help="generator seed (default 0)")
    synth.add_argument(
        "--sizes",
        choices=("embedded", "mvtec"),
        default="embedded",
        help="split sizes: the embedded set's (default) or MVTec AD's own (bottle: 209 train, 20 good, 63 defective)",
    )
    synth.set_defaults(func=_cmd_data_synth)

    check = data_cmds.add_parser("check", help="validate a dataset in MVTec AD layout and summarise it")
    check.add_argument("root", type=Path, help="dataset root: <root>/<category>/train/good/*.png")
    check.add_argument("--category", action="append", help="check only this category (repeatable)")
    check.add_argument("--report", type=Path, help="also write the summary as JSON to this file")
    check.add_argument(
        "--profile",
        type=Path,
        help="the criteria profile whose image-AUROC tolerances the split is planned for (default: the packaged one)",
    )
    check.set_defaults(func=_cmd_data_check)

    card = commands.add_parser("card", help="render MODEL_CARD.md, PROVENANCE.md, CHECKSUMS.sha256 and figures")
    card.add_argument("--reports", type=Path, default=Path("reports"), help="reports root (default: reports)")
    card.set_defaults(func=_cmd_card)

    budget = commands.add_parser(
        "budget", help="write a machine class's latency budget ([[latency.<device>.machine]]) from latency records"
    )
    budget.add_argument(
        "--from", dest="source", type=Path, required=True, help="reports root or records directory to read"
    )
    budget.add_argument(
        "--margin",
        type=_margin,
        default=DEFAULT_MARGIN,
        help=f"added to the largest median and p95 (default: {DEFAULT_MARGIN})",
    )
    budget.add_argument(
        "--class",
        dest="machine_class",
        metavar="PATTERN",
        help='key the budget by this class pattern instead of the records\' exact class (e.g. "AMD EPYC*/avx512/*")',
    )
    budget.add_argument("--out", type=Path, help="write the table to this file instead of standard output")
    budget.set_defaults(func=_cmd_budget)

    report = commands.add_parser("report", help="work with report sets")
    report_cmds = report.add_subparsers(dest="report_command", required=True, metavar="SUBCOMMAND")
    merge = report_cmds.add_parser("merge", help="merge report sets (machines, CI shards) into one")
    merge.add_argument("--out", type=Path, required=True, help="the merged reports root (created or replaced)")
    merge.add_argument("sources", type=Path, nargs="+", help="reports roots, each holding eval_harness/")
    merge.set_defaults(func=_cmd_report_merge)

    gate = commands.add_parser("gate", help="compare current records with a baseline; exit 1 on a regression")
    gate.add_argument("--baseline", type=Path, required=True, help="baseline reports root (or records directory)")
    gate.add_argument("--current", type=Path, required=True, help="current reports root (or records directory)")
    gate.add_argument("--json", type=Path, help="also write the verdict as JSON to this file")
    gate.add_argument(
        "--criteria",
        type=Path,
        help="profile whose [gate] table sets the thresholds (default: ./inspectnet.toml, else the packaged one)",
    )
    gate.add_argument(
        "--gate-mode",
        choices=GATE_MODES,
        default="auto",
        help="latency: auto (A/B here where both models are found by sha256, records otherwise) or records",
    )
    gate.add_argument(
        "--artifacts",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="where to look for the records' exported models besides --store-dir (repeatable)",
    )
    gate.add_argument(
        "--store-dir",
        type=Path,
        default=STORE_DIR,
        help=f"artifact store holding exported models (default: {STORE_DIR})",
    )
    gate.set_defaults(func=_cmd_gate)

    init = commands.add_parser(
        "init", help="write inspectnet.toml, pytest's configuration and a CI workflow for your anomalib checkpoints"
    )
    init.add_argument("--dir", type=Path, default=Path("."), help="the project's root directory (default: .)")
    given = init.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--model-dir", type=Path, metavar="DIR", help="anomalib's results tree (DIR/<Model>/<Dataset>/<category>/...)"
    )
    given.add_argument(
        "--model",
        action="append",
        type=_model,
        metavar="CATEGORY=PATH",
        help="an anomalib checkpoint (.ckpt, Patchcore or Padim) as CATEGORY's model (repeatable)",
    )
    init.add_argument(
        "--data-root", type=Path, required=True, help="the dataset's root in MVTec AD layout (<root>/<category>/...)"
    )
    init.add_argument(
        "--dataset", choices=("folder", "mvtec_ad"), default="folder", help="folder (your own; default) or mvtec_ad"
    )
    init.add_argument(
        "--dataset-licence",
        metavar="TEXT",
        help="folder: the dataset's licence, e.g. CC0-1.0 (else DATA_ROOT/dataset.toml states it)",
    )
    init.add_argument(
        "--weights", metavar="SPEC", help="backbone weights for models trained: imagenet | random:N | FILE | DIR"
    )
    init.add_argument(
        "--from-current",
        action="store_true",
        help="measure the current models once and write their values as each criterion's reference",
    )
    init.add_argument(
        "--tolerance",
        type=_tolerance,
        help=f"with --from-current: each criterion's tolerance below its reference (default: {DEFAULT_TOLERANCE})",
    )
    init.add_argument(
        "--baseline",
        type=Path,
        default=Path("reports"),
        help="the CI gate's baseline reports root, relative to --dir (default: reports)",
    )
    init.add_argument(
        "--latency-runner",
        default="ubuntu-latest",
        metavar="LABEL",
        help="the CI runner the latency job runs on (default: ubuntu-latest)",
    )
    init.set_defaults(func=_cmd_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (DataError, RecordError) as exc:
        print(f"inspectnet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("inspectnet: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
