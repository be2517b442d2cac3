"""What the command modules share: the :class:`Command` record, the help formatter, the argument groups several
commands take, and the exit codes.

The command modules import speechvae's stages inside each ``run`` function, not at the top: ``speechvae --help``
and ``speechvae analyze`` then never import torch (about 1.5 s per process; ``benchmarks/startup.py`` measures it
and ``tests/test_corpus.py`` checks that analyze stays free of it).
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("speechvae")


@dataclass(frozen=True)
class Command:
    """One ``speechvae`` command: ``add_arguments(parser)`` declares its flags, ``run(args)`` does the work through
    the Python API and returns the exit code."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows a default only where there is one worth showing (not None / False / [])."""

    def _get_help_string(self, action):
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_common_flags(p: argparse.ArgumentParser, top: bool = False) -> None:
    """``-q`` and ``--debug``: on the top parser with their defaults, on a command's parser without (so that a
    flag given before the command is not reset by the command's parser)."""
    p.add_argument("-q", "--quiet", action="store_true", default=False if top else argparse.SUPPRESS,
                   help="warnings and errors only, no progress bars")
    p.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                   help="show the Python traceback of an error")


def common_flags() -> argparse.ArgumentParser:
    """A parent parser holding :func:`add_common_flags`, for commands and their sub-commands."""
    p = argparse.ArgumentParser(add_help=False)
    add_common_flags(p)
    return p


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="YAML",
                   help="config file (sections analysis, model, init, loss, train, postfilter, codec; "
                        "see recipes/folder/conf/default.yaml); default: built-in defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=3e-4 (repeatable)")


def load_config_args(args, extra: list[str] = ()):
    from speechvae.config import load_config

    return load_config(args.config, [*extra, *args.set])


def report_failures(failures: list[str]) -> int:
    if failures:
        log.error("%d file(s) failed:", len(failures))
        for line in failures:
            log.error("  %s", line)
        return 1
    return 0


# --- reconstruct / resynth / evaluate / plot ---------------------------------------------------
def add_model_args(p, required=True):
    p.add_argument("--model", required=required, metavar="EXPDIR",
                   help="experiment folder of `speechvae train` (or its checkpoint.pt)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: CUDA when present, else CPU")


def add_reconstruction_args(p):
    p.add_argument("--list", help="only these utterance ids (first field of each line), for feature folders")
    p.add_argument("--sample", action="store_true", help="decode z ~ q(z|x) instead of the posterior mean")
    p.add_argument("--gv-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help="GV post-filter on reconstructions (default: the model's postfilter.gv)")


def feature_files(items: list[str], list_file: str | None = None) -> list[tuple[str, Path, object]]:
    """FEATDIRs (their manifest, optionally filtered by a list) and single .npz files ->
    (utt, path, the folder's stored AnalysisConfig or None for a lone file)."""
    from speechvae.analysis.featdir import feature_path, read_featdir_analysis, select_utts

    out = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            acfg = read_featdir_analysis(p)
            out += [(u, feature_path(p, u), acfg) for u in select_utts(p, list_file)]
        else:
            out.append((p.stem, p, None))
    return out


def int_list(flag: str, text: str) -> list[int]:
    try:
        return [int(d) for d in text.split(",") if d.strip()]
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected comma-separated integers, e.g. 4,8,16") from None


def add_postfilter_args(p, what: str, whose: str) -> None:
    p.add_argument("--gv-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help=f"GV post-filter on the {what}, toward {whose} GV (default: the model's postfilter.gv)")
    p.add_argument("--gv-weight", type=float, metavar="W",
                   help="how far toward that GV, in log variance: 1 all the way, 0.5 half way (postfilter.gv_weight; "
                        "default: the model's)")
    p.add_argument("--gv-high-from", type=int, metavar="K",
                   help="from cK up, go --gv-weight-high of the way instead (postfilter.gv_high_from; 0: one weight "
                        "for all; default: the model's)")
    p.add_argument("--gv-weight-high", type=float, metavar="W",
                   help="the GV weight from cK up (postfilter.gv_weight_high; default: the model's)")
    p.add_argument("--ms-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help=f"modulation-spectrum post-filter on the {what}, toward {whose} (applied before the GV one; "
                        "default: the model's postfilter.ms)")
    p.add_argument("--ms-weight", type=float, metavar="W",
                   help="how far toward that modulation spectrum, in log power: 1 all the way, 0.5 half way "
                        "(postfilter.ms_weight; default: the model's)")


def postfiltered(tm, args):
    """The model with the post-filter flags of :func:`add_postfilter_args` over its config."""
    from speechvae.inference.model import with_postfilter

    return with_postfilter(tm, args.gv_postfilter, args.gv_weight, ms=args.ms_postfilter, ms_weight=args.ms_weight,
                           high_from=args.gv_high_from, weight_high=args.gv_weight_high)


class Interrupted(Exception):
    """Ctrl-C, with what was kept and how to continue."""


EXIT_REFUSED = 2


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
