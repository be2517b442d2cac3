"""``speechvae codec encode`` / ``codec decode``: a residual VQ-VAE as a speech codec, wavs to bitstream files and
back."""
from __future__ import annotations

import argparse
import logging

from speechvae.cli.common import (
    EXIT_REFUSED,
    Command,
    HelpFormatter,
    add_model_args,
    common_flags,
    report_failures,
)

log = logging.getLogger("speechvae")


def codec_add(p):
    sub = p.add_subparsers(dest="codec_command", required=True, metavar="ACTION",
                           help="encode, decode or evaluate")
    enc = sub.add_parser("encode", help="wavs -> one bitstream file per utterance (BITDIR/<utt>.svc)",
                         description="WORLD analysis, then the envelope's codebook indices and the quantised F0, "
                                     "voicing, power and aperiodicity, packed into BITDIR/<utt>.svc",
                         formatter_class=HelpFormatter, parents=[common_flags()])
    enc.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="wav files, folders (recursive *.wav) or 'utt_id path' list files")
    add_model_args(enc)
    enc.add_argument("-o", "--output", required=True, metavar="BITDIR", help="folder for the bitstreams")
    enc.add_argument("--bitrate", type=float, metavar="KBIT_S",
                     help="kbit/s of a 3-s utterance, header included: the most envelope codebooks that fit "
                          "(codec.bitrate; default: the model's)")
    enc.add_argument("--f0-bits", type=int, metavar="B", help="log-F0 bits per latent vector (codec.f0_bits)")
    enc.add_argument("--c0-bits", type=int, metavar="B", help="power (c0) bits per latent vector (codec.c0_bits)")
    enc.add_argument("--bap-bits", type=int, metavar="B", help="aperiodicity bits per band (codec.bap_bits)")
    enc.add_argument("--f0-floor", type=float, metavar="HZ", help="lowest F0 searched (analysis.f0_floor; "
                     "default: the model's)")
    enc.add_argument("--f0-ceil", type=float, metavar="HZ", help="highest F0 searched (analysis.f0_ceil; "
                     "default: the model's)")
    dec = sub.add_parser("decode", help="bitstreams -> wavs (WAVDIR/<utt>.wav)",
                         description="bitstream files -> WORLD synthesis of the decoded features",
                         formatter_class=HelpFormatter, parents=[common_flags()])
    dec.add_argument("bitdir", metavar="BITDIR", help="folder written by `speechvae codec encode`, or one .svc file")
    add_model_args(dec)
    dec.add_argument("-o", "--output", required=True, metavar="WAVDIR", help="folder for the wav files")
    dec.add_argument("--gv-postfilter", action=argparse.BooleanOptionalAction, default=None,
                     help="GV post-filter on the decoded envelope (default: the model's postfilter.gv)")
    ev = sub.add_parser("evaluate", help="speechvae at each bit rate beside Codec2, Opus, WORLD copy synthesis and "
                        "the recordings: measures, table, figure, listening page",
                        description="every system on the same recordings: kbit/s from file sizes, PESQ-WB, PESQ-NB, "
                                    "STOI (delay removed), DNSMOS P.808, speaker similarity (needs speechvae[quality]; "
                                    "Codec2 and Opus rows need the codec2 and opus-tools packages, else are left "
                                    "out with a warning)",
                        formatter_class=HelpFormatter, parents=[common_flags()])
    ev.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="held-out wav files, folders or 'utt_id path' list files (the speaker is the wav's folder)")
    add_model_args(ev)
    ev.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                    help="results.json, results.md, rate_quality.png, index.html, wavs/<system>/")
    ev.add_argument("--rates", type=float, nargs="+", default=[1.2, 1.6, 2.4], metavar="KBIT_S",
                    help="speechvae rows: codec.bitrate of each")
    ev.add_argument("--codec2", nargs="*", default=list(CODEC2_MODES), metavar="MODE",
                    help="Codec2 modes (none: no Codec2 rows)")
    ev.add_argument("--opus", type=float, nargs="*", default=[6.0, 8.0, 10.0], metavar="KBIT_S",
                    help="Opus bit rates (none: no Opus rows)")
    ev.add_argument("--title", default="speechvae codec", help="heading of the table, figure and page")
    ev.add_argument("-j", "--jobs", type=int, default=1, help="utterances judged at once (worker processes)")


CODEC2_MODES = ("700C", "1300", "2400", "3200")  # the reference modes (speechvae.codec.references)


def codec_run(args) -> int:
    return {"encode": encode_run, "decode": decode_run, "evaluate": evaluate_run}[args.codec_command](args)


def _device(args) -> str:
    return "cpu" if args.device == "auto" else args.device  # one utterance at a time: the CPU is quicker


def encode_run(args) -> int:
    from speechvae.codec.codec import load_codec
    from speechvae.codec.folder import encode_files

    bits = {k: v for k, v in (("f0_bits", args.f0_bits), ("c0_bits", args.c0_bits),
                              ("bap_bits", args.bap_bits), ("bitrate", args.bitrate)) if v is not None}
    codec = load_codec(args.model, _device(args), **bits)
    over = {k: v for k, v in (("f0_floor", args.f0_floor), ("f0_ceil", args.f0_ceil)) if v is not None}
    info = encode_files(codec, args.inputs, args.output, progress=not args.quiet, **over)
    log.info("%d utterances, %.1f s -> %d bytes (%.3f kbit/s measured, headers included; %d envelope "
             "codebook(s)) -> %s", info["utterances"], info["seconds"], info["bytes"], info["kbit_per_s"],
             info["codebooks"], args.output)
    return report_failures(info["failures"])


def decode_run(args) -> int:
    from speechvae.codec.codec import load_codec
    from speechvae.codec.folder import decode_files

    codec = load_codec(args.model, _device(args))
    done, failures = decode_files(codec, args.bitdir, args.output, args.gv_postfilter, progress=not args.quiet)
    for line in failures:
        log.error("%s", line)
    log.info("%d bitstream(s) decoded -> %s", done, args.output)
    return EXIT_REFUSED if failures else 0


def evaluate_run(args) -> int:
    from speechvae.analysis.inputs import collect_inputs
    from speechvae.evaluation.codecs import judge_codecs, markdown_table, systems
    from speechvae.evaluation.quality import require
    from speechvae.report.codec_page import write_codec_report

    require()  # the measures: one line naming the extra to install
    rows = systems(args.rates, args.codec2, args.opus)
    result = judge_codecs(args.model, collect_inputs(args.inputs), args.output, rows, args.jobs,
                          progress=not args.quiet)
    page = write_codec_report(result, args.output, args.title)
    print(markdown_table(result))
    log.info("listening page -> %s", page)
    return 0


COMMANDS = [Command("codec", "speech codec: encode wavs to bitstream files at a bit rate, decode them to wavs",
                    codec_add, codec_run)]
