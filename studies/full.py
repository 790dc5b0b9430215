"""The raysym study, end to end: ``python studies/full.py`` on a laptop CPU or on a Ray cluster.

Stage 0 makes or reads the jets, stage 1 trains every bias × seed as a Ray Tune grid (or a search),
stage 2 evaluates every best model on the test split of g_vs_w, g_vs_z and g_vs_t as Ray tasks, and
stage 3 measures each model's Hessian, pseudo-Goldstone scan and pT-smearing robustness, and stage 4
distils every teacher into a fixed student (a second Tune run). All
numbers land in one Parquet store (``<out>/store``: open it with pandas or ``raysym query``). Rerunning
the same command skips what is done and resumes what is not; a rerun with other settings adds new
results beside the old ones and prints only its own.

    python studies/full.py                          # quick preset, CPU, generated jets
    python studies/full.py --preset paper --data DIR --address auto --out s3://bucket/raysym
    python studies/full.py --preset dual            # + dual-subnet and hard-invariant biases
    python studies/full.py --bias teacher --bias teacher:dseal:0.03 --seeds 0 1 2
    python studies/full.py --preset paper --address auto --precision bf16   # bf16 autocast on the GPUs
    python studies/full.py --until-decided --max-seeds 8 --decide lambda1,trace   # seeds added until decided
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from raysym.artifacts import join
from raysym.data.datasets import registered_datasets
from raysym.errors import ConfigError, DataError, Interrupted, disk_full, disk_full_message
from raysym.features import JET_AXES
from raysym.report.command import write_report
from raysym.report.contents import summary_lines
from raysym.report.selection import select_run
from raysym.stages.analysis_settings import TRACE_METHODS
from raysym.study.config import StudyConfig
from raysym.study.pipeline import run_study
from raysym.study.sequential import Look, SequentialDesign, run_until_decided
from raysym.study.preset_costs import cost_lines
from raysym.study.presets import PRESETS, preset, smoke
from raysym.training.config import PRECISIONS, Bias


def build_parser() -> argparse.ArgumentParser:
    """The command line of a study (the README's list of flags is made from it)."""
    epilog = "\n".join(["what each preset costs, from an empty folder (measured, or projected where it says so):",
                        *cost_lines(PRESETS)])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick", choices=sorted(PRESETS),
                        help="which study (default quick; what each costs: the list at the end)")
    parser.add_argument("--dataset", choices=sorted(spec.name for spec in registered_datasets()),
                        help="the data set whose files --data holds: its classes and tasks become the study's (the "
                             "training task is its in-distribution one; every task it declares is evaluated). "
                             "Default: the preset's (hls4ml unless the preset names another)")
    parser.add_argument("--data", metavar="PATH", help="the data set's files: a folder or one file (default: generate "
                                                       "hls4ml-layout jets)")
    parser.add_argument("--out", help="where the study writes everything: a folder or a URI such as "
                                      "s3://BUCKET/PREFIX (default raysym-runs/PRESET)")
    parser.add_argument("--address", help="a running Ray cluster: 'auto' (the one `ray start` made) or host:port "
                                          "(default: start a local Ray for this run)")
    parser.add_argument("--storage", help="Tune storage path or URI (s3://..., NFS path; default OUT/tune)")
    parser.add_argument("--bias", action="append", metavar="MODEL[:PENALTY[:LAMBDA]]",
                        help="replace the preset's biases (repeatable), e.g. teacher:seal:0.1, dual, invariant")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds")
    parser.add_argument("--epochs", type=int, help="training epochs of every teacher")
    parser.add_argument("--batch-size", type=int, help="training batch size of every teacher")
    parser.add_argument("--jets-per-class", type=int, help="generated jets per class")
    parser.add_argument("--gpus-per-trial", type=float,
                        help="GPUs each trial holds: 0, a whole number, or 1/n for n trials per GPU")
    parser.add_argument("--cpus-per-trial", type=float, help="CPUs each trial holds (and its torch threads)")
    parser.add_argument("--max-failures", type=int, help="times Tune retries a failed trial")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="the network of every training step, teachers' and students': float32 (default) or "
                             "bf16 (bfloat16 autocast; a GPU of compute capability >= 8.0, or any CPU, slowly)")
    parser.add_argument("--dropout", type=float, metavar="P",
                        help="dropout in every teacher's and student's encoder, active only in training (the paper "
                             "preset: 0.1, as the SEAL authors' code; others: 0)")
    parser.add_argument("--jet-axis", choices=JET_AXES,
                        help="what Δη is measured against: the jet's pseudorapidity (the paper preset, as the SEAL "
                             "authors' code) or its rapidity (the other presets)")
    parser.add_argument("--trial-resource", action="append", metavar="NAME=AMOUNT",
                        help="a custom Ray resource every trial also asks for (repeatable), e.g. a GPU node's label")
    parser.add_argument("--trace-method", choices=TRACE_METHODS,
                        help="Tr(H) estimator (default deflated-hutchinson; hutchinson is the paper's)")
    parser.add_argument("--trace-rel-stderr", type=float, metavar="FRACTION",
                        help="add Hutchinson probes until Tr(H)'s standard error is at most this fraction of it "
                             "(e.g. 0.05), or the preset's probe cap is reached")
    parser.add_argument("--analysis-option", action="append", metavar="NAME.FIELD=VALUE",
                        help="a setting of an analysis that declares its own (repeatable; VALUE read as JSON, else "
                             "as text), e.g. an analysis added as a module: mean_logit.n_jets=64")
    parser.add_argument("--checkpoints", metavar="best|every:K",
                        help="which weights to evaluate and analyse: each trial's best model (default), or also "
                             "every K-th epoch of its training (the trajectory; e.g. every:2)")
    parser.add_argument("--keep-scores", action="store_true",
                        help="also store every test jet's score per model and task (the scores table), to compute "
                             "any ROC curve or working point later; added to a finished study without re-evaluating")
    parser.add_argument("--until-decided", action="store_true",
                        help="after the study's seeds, add seeds to every bias in rounds until the findings are "
                             "decided (alpha spent over the looks; docs/methods.md §8)")
    parser.add_argument("--max-seeds", type=int, default=8, metavar="N",
                        help="with --until-decided: at most N seeds per bias, fixed before the first look (default 8)")
    parser.add_argument("--seeds-per-round", type=int, default=2, metavar="K",
                        help="with --until-decided: seeds added to every bias per round (default 2)")
    parser.add_argument("--time-budget", type=float, metavar="MINUTES",
                        help="with --until-decided: start no round that would end after this many minutes")
    parser.add_argument("--decide", action="append", metavar="FINDING",
                        help="with --until-decided: the findings that must be decided (repeatable, or comma-"
                             "separated, e.g. lambda1,trace; default all the study measures)")
    parser.add_argument("--track", action="append", metavar="mlflow[=URI]|wandb[=PROJECT]",
                        help="log every trial's parameters and per-epoch metrics, and at the end its test-set and "
                             "analysis numbers, to MLflow (default store: the folder OUT/mlruns) or Weights & "
                             "Biases (project: the study's name; WANDB_MODE=offline keeps the runs on disk) "
                             "through Ray Tune's own loggers (repeatable; not part of any key)")
    parser.add_argument("--smoke-test", action="store_true", help="the real path, shrunk to seconds (for CI)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--verbose", action="store_true",
                        help="Tune's own trial table and every log line, besides the stages' bars")
    output.add_argument("--quiet", action="store_true",
                        help="only the summary at the end and errors: no trial lines, no progress bars")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def design_from_args(args: argparse.Namespace) -> SequentialDesign:
    """The sequential design the ``--until-decided`` flags describe (checked when made)."""
    findings = tuple(key.strip() for text in args.decide or () for key in text.split(",") if key.strip())
    budget = None if args.time_budget is None else args.time_budget * 60
    return SequentialDesign(max_seeds=args.max_seeds, seeds_per_round=args.seeds_per_round, time_budget_s=budget,
                            findings=findings)


def look_line(look: Look) -> str:
    """One look, as the study prints it: its seeds, its α and what is still open."""
    open_ = look.undecided()
    return (f"look at {look.seeds} seeds per bias (α {look.alpha:.2g}, {look.seconds:.0f} s): "
            + ("every finding decided" if not open_ else "not resolved: " + ", ".join(open_)))


def parse_resources(texts: list[str] | None) -> dict[str, float] | None:
    """``NAME=AMOUNT`` flags as a mapping (checked by the training settings); None when none were given."""
    if not texts:
        return None
    resources = {}
    for text in texts:
        name, sep, amount = text.partition("=")
        try:
            resources[name.strip()] = float(amount)
        except ValueError:
            raise ConfigError(f"--trial-resource {text!r} must be NAME=AMOUNT, e.g. accelerator=1") from None
        if not sep:
            raise ConfigError(f"--trial-resource {text!r} must be NAME=AMOUNT, e.g. accelerator=1")
    return resources


def parse_analysis_options(texts: list[str] | None, current: dict) -> dict | None:
    """``NAME.FIELD=VALUE`` settings (VALUE as JSON where it parses, else as text) over the preset's
    options; None when none are given. A malformed one is a ConfigError saying what is expected."""
    if not texts:
        return None
    options = {name: dict(values) for name, values in current.items()}
    for text in texts:
        name_field, sep, value = text.partition("=")
        name, dot, field_name = name_field.partition(".")
        if not (sep and dot and name and field_name):
            raise ConfigError(f"--analysis-option {text!r}: expected NAME.FIELD=VALUE, e.g. mean_logit.n_jets=64")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        options.setdefault(name, {})[field_name] = parsed
    return options


def study_from_args(args: argparse.Namespace) -> StudyConfig:
    """The preset with the command line's overrides applied (validated later, before Ray starts)."""
    config = preset(args.preset)
    if args.dataset is not None and args.dataset != config.data.dataset:
        config = config.for_dataset(args.dataset)
    if args.smoke_test:
        config = smoke(config)
    overrides: dict = {}
    if args.bias:
        overrides["biases"] = tuple(Bias.parse(text) for text in args.bias)
    if args.seeds is not None:
        overrides["seeds"] = tuple(args.seeds)
    if args.checkpoints is not None:
        overrides["analyse_checkpoints"] = args.checkpoints
    if args.track:
        overrides["track"] = tuple(args.track)
    sections = {
        "recipe": {"epochs": args.epochs, "batch_size": args.batch_size, "precision": args.precision},
        "training": {"max_failures": args.max_failures, "storage_path": args.storage,
                     "gpus_per_trial": args.gpus_per_trial, "cpus_per_trial": args.cpus_per_trial,
                     "trial_resources": parse_resources(args.trial_resource)},
        "data": {"path": args.data},
        "evaluation": {"keep_scores": True if args.keep_scores else None},
        "analyses": {"trace_method": args.trace_method, "trace_rel_stderr": args.trace_rel_stderr,
                     "options": parse_analysis_options(args.analysis_option, config.analyses.options)},
    }
    if args.precision is not None:  # students train like their teachers
        sections["distillation"] = {"recipe": {"precision": args.precision}}
    if args.jets_per_class is not None:
        sections["data"]["generator"] = {"jets_per_class": args.jets_per_class}
    for section, values in sections.items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            overrides[section] = given
    network = {"dropout": args.dropout, "jet_axis": args.jet_axis}
    return config.with_overrides(**overrides).with_transformer_settings(
        **{k: v for k, v in network.items() if v is not None})


#: The exit status of a study ended by Ctrl-C: 128 + SIGINT, as a shell reports it.
INTERRUPTED = 130


def resume_line(argv: list[str] | None, stage: str | None) -> str:
    """What to tell the user after Ctrl-C: where the study stopped and the command that resumes it."""
    command = shlex.join(["python", "studies/full.py", *(sys.argv[1:] if argv is None else argv)])
    where = f" during {stage}" if stage else ""
    return (f"studies/full.py: interrupted{where}; nothing unfinished was stored. Resume with the same "
            f"command: {command}")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return study_and_report(args)
    except (ConfigError, DataError) as err:
        print(f"studies/full.py: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(resume_line(argv, getattr(err, "stage", None)), file=sys.stderr)
        return INTERRUPTED
    except Exception as err:
        full = disk_full(err)
        if full is None:
            raise
        print(f"studies/full.py: error: {disk_full_message(full)}", file=sys.stderr)
        return 2


def console_levels(args: argparse.Namespace) -> tuple[int, bool]:
    """(Tune's verbosity, whether the stages print trial lines and bars) for ``--verbose`` / ``--quiet``, and
    sets the log level to match: warnings by default, info with ``--verbose``, errors only with ``--quiet``."""
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("raysym").setLevel(level)
    # A failed trial's traceback is in its error file; the console says its last line (and Tune retries it).
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "1" if args.verbose else "0")
    return (1 if args.verbose else 0), not args.quiet


def study_and_report(args: argparse.Namespace) -> int:
    """The study of ``args``, its summary and report; the exit status (1 when a trial failed)."""
    config = study_from_args(args)
    out = args.out or str(Path("raysym-runs") / config.name)
    verbose, progress = console_levels(args)
    if args.until_decided:
        design = design_from_args(args)
        result = run_until_decided(config, out, design, address=args.address, verbose=verbose, progress=progress,
                                   on_look=lambda look: print(look_line(look), flush=True))
        print(f"seeds stopped being added: {result.stopped}")
        outcome = result.last
    else:
        outcome = run_study(config, out, address=args.address, verbose=verbose, progress=progress)
    print(f"\nstudy {config.name}: {outcome.trained} trial(s) trained, {outcome.evaluated} evaluated, "
          f"{outcome.distilled} student(s) distilled this run; "
          "analyses stored for " + ", ".join(f"{n} {k}" for k, n in outcome.analysed.items()) + " trial(s)")
    print("seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in outcome.seconds.items()))
    print(f"result store: {outcome.store_path}  (Python: raysym.results.open(path).study({config.name!r}).summary(); "
          f"SQL: raysym query {outcome.store_path} \"SELECT ...\")\n")
    if outcome.run_key is not None:
        # Only this run's settings: the store may also hold trials made with other settings, kept beside.
        run = select_run(outcome.store_path, config.name, outcome.run_key)
        try:
            written = write_report(run, join(out, "report"))
        except KeyboardInterrupt as err:
            raise Interrupted("report: interrupted", "report") from err
        for line in written.skipped:
            print(line)
        print(f"figures and report ({written.seconds:.1f} s): {written.report[-1]}\n")
        print("\n".join(summary_lines(run)))
    for message in outcome.errors:
        print(f"failed trial: {message}", file=sys.stderr)
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())
