"""speechvae: compact latent codes of speech spectra (WORLD mel-cepstra -> VAE -> resynthesis).

Typical run: analyze -> (lists, stats) -> train -> evaluate / resynth / plot. Every flag that is a
setting overrides a config key (named in its help); ``--set section.key=value`` reaches any key.
Exit codes: 0 done, 1 some inputs failed (the rest was processed), 2 refused (bad input, config or
folder; one line says why), 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import sys

from speechvae.cli import analysis, codec, evaluation, experiments, inference, report, training, vc
from speechvae.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    Command,
    HelpFormatter,
    Interrupted,
    add_common_flags,
    common_flags,
)
from speechvae.console import setup_logging
from speechvae.version import __version__

log = logging.getLogger("speechvae")

# One module per command group, in the order of the data flow (the order of ``speechvae --help``).
GROUPS = (analysis, training, inference, codec, evaluation, report, vc, experiments)


def commands() -> list[Command]:
    """Every command, group by group."""
    return [c for g in GROUPS for c in g.COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    """The ``speechvae`` parser with every command as a sub-parser (also read by the docs' CLI reference)."""
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(prog="speechvae", description=doc[0], epilog="\n\n".join(doc[1:]),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"speechvae {__version__}")
    add_common_flags(parser, top=True)
    common = common_flags()  # accepted before or after the command
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for c in commands():
        p = sub.add_parser(c.name, help=c.help, description=c.help, formatter_class=HelpFormatter, parents=[common])
        c.add_arguments(p)
        p.set_defaults(func=c.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``speechvae`` command: parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    setup_logging(args.quiet)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        log.error("interrupted; files already finished are kept, re-run the same command to go on")
        return EXIT_INTERRUPTED
    except Interrupted as e:
        log.error("interrupted; %s", e)
        return EXIT_INTERRUPTED
    # Every refusal of speechvae's own is a ValueError (bad input, config, folder, checkpoint) or a
    # RuntimeError (diverged training, missing CUDA); OSError is a file the system would not give us.
    except (ValueError, RuntimeError, OSError) as e:
        if args.debug:
            raise
        msg = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        log.error("%s", msg)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
