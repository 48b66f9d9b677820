"""CLI: `eval run SET`, `eval list`, `eval show RUN`, `eval compare A B`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.common import command, emit
from app.commands.evaluate_examples import compare_examples_cli
from app.evaluation.report import compare_text, run_text, runs_text
from app.evaluation.service import Evaluations, RunOptions, load_set, parse_model, parse_only


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand and its actions."""
    parser = sub.add_parser("eval", help="Evaluate retrieval, SQL and answers on a question set; compare runs.")
    esub = parser.add_subparsers(dest="eval_command", metavar="ACTION", required=True)
    run = command(esub, "run", help="Run a JSONL set and store the scores.", handler=run_eval)
    run.add_argument("set", type=Path, help="A .jsonl file of document and/or SQL questions.")
    # Its own dest: the global --model (before the subcommand) also changes settings, this one only the run.
    run.add_argument("--model", dest="eval_model", help="embedded:KEY or ollama:NAME (default: the model in settings).")
    run.add_argument("--judge", help="Also have a model judge faithfulness (embedded:KEY or ollama:NAME); by "
                     "default faithfulness is the model-free sentence-support check (every sentence supported by "
                     "one source, every number traced).")
    run.add_argument("--limit", type=int, help="Only the first N items (a quick run).")
    run.add_argument("--only", help="Comma-separated subset of retrieval,sql,answers (default: all).")
    run.add_argument("--docs", type=Path, help="Folder with the set's PDFs (default: the set's folder).")
    run.add_argument("--background", action="store_true",
                     help="Queue the run as a background job and print its id at once (the app, or `python -m app "
                     "worker`, runs it; `jobs show ID` shows its progress, `jobs cancel ID` stops it between items "
                     "and keeps the items done, `jobs retry ID` goes on from there).")
    run.add_argument("--compare-examples", action="store_true",
                     help="Measure the verified queries: run the set's SQL questions without, then with the verified "
                     "question-SQL pairs of their databases (same model and items; the SQL techniques as in "
                     "settings), store both runs and print them side by side (accuracy, seconds per question).")
    listing = command(esub, "list", help="Stored runs, newest first.", handler=run_list)
    listing.add_argument("--set", dest="set_name", help="Only runs of this set (its file name without .jsonl).")
    show = command(esub, "show", help="One stored run with per-item results.", handler=run_show)
    show.add_argument("run", help="Run id (or 'latest').")
    compare = command(esub, "compare", help="Metric deltas and changed items between two runs.", handler=run_compare)
    compare.add_argument("run_a", help="The earlier run (id).")
    compare.add_argument("run_b", help="The later run (id, or 'latest').")


def _progress(fraction: float, message: str) -> None:
    sys.stderr.write(f"[{fraction:4.0%}] {message}\n")
    sys.stderr.flush()


def run_eval(args: argparse.Namespace, services) -> int:
    """Run a set; progress on stderr, the summary (or JSON) on stdout."""
    options = RunOptions(model=args.eval_model, only=parse_only(args.only), limit=args.limit, judge=args.judge)
    parse_model(options.model)  # an unknown model name fails before anything else happens
    parse_model(options.judge)
    if args.compare_examples:  # before --background: the pair runs here, and says so if both are given
        return compare_examples_cli(args, services, options)
    if args.background:
        return _submit_eval(args, services, options)
    eval_set = load_set(args.set, args.docs)
    for problem in eval_set.problems:
        sys.stderr.write(f"{args.set}:{problem.line}: skipped: {problem.message}\n")
    kinds = ", ".join(f"{n} {k}" for k, n in eval_set.kinds().items()) or "no usable items"
    sys.stderr.write(f"{eval_set.name}: {kinds}; {len(eval_set.documents)} document(s)\n")
    run = Evaluations(services).run(eval_set, options, progress=_progress)
    for warning in run["warnings"]:
        sys.stderr.write(f"warning: {warning}\n")
    emit(args, run, run_text(run))
    return 0


def _submit_eval(args: argparse.Namespace, services, options: RunOptions) -> int:
    """`eval run --background`: queue the run as a job; prints the job id."""
    job = services.jobs.submit_evaluation(args.set.resolve(), args.docs.resolve() if args.docs else None, options)
    emit(args, job.to_dict(), f"{job.id}  queued: evaluation of {job.payload['name']}\n"
         f"`python -m app jobs show {job.id}` shows its progress; the run appears in `eval list` once it starts")
    return 0


def run_list(args: argparse.Namespace, services) -> int:
    """Print stored runs."""
    runs = Evaluations(services).list_runs(args.set_name)
    emit(args, {"runs": runs}, runs_text(runs))
    return 0


def run_show(args: argparse.Namespace, services) -> int:
    """Print one run with its items and warnings."""
    run = Evaluations(services).get_run(args.run)
    emit(args, run, run_text(run))
    return 0


def run_compare(args: argparse.Namespace, services) -> int:
    """Print the comparison of two runs."""
    result = Evaluations(services).compare(args.run_a, args.run_b)
    emit(args, result, compare_text(result))
    return 0
