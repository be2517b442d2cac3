#!/usr/bin/env bash
# Voice conversion on a parallel CMU ARCTIC pair: recipes/vc (one speaker-conditioned VAE, every direction scored
# beside its references, a listening page per direction) with the two speakers, their F0 ranges set by hand from
# their histograms (conf/f0_ranges.txt; recipes/vc finds them from the data instead) and the ARCTIC split: of the
# sentences both read, the last 50 names are eval, the 50 before them dev, the rest train. conf/vc.yaml is
# recipes/vc's plus what a parallel corpus allows: the parallel term (DTW-aligned frame pairs of the sentences both
# read) and the two-band GV post-filter it pays for (README "Parallel sentences").
#
# Layout: DB/<spk>/arctic_a0001.wav ... e.g. ../shared/corpora/cmu_arctic_bdl_slt/. Stages: those of recipes/vc/run.sh
# (0 data, 1 analyze, 2 references, 3 train, 4 convert, 5 evaluate, 6 pages); every option of it passes through.
#
# Usage: recipes/arctic_vc/run.sh --db DIR [--src bdl] [--tgt slt] [--stage N] [--stop-stage M] [--nj J]
#                                 [--conf FILE] [--workdir DIR] [--train-args "ARGS"] [--n-dev 50] [--n-eval 50]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=bdl; tgt=slt; workdir=""; rest=()
while [ $# -gt 0 ]; do
    case "$1" in
        --src) src=$2; shift 2 ;;
        --tgt) tgt=$2; shift 2 ;;
        --workdir) workdir=$2; shift 2 ;;
        *) rest+=("$1"); shift ;;
    esac
done
exec "${here}/../vc/run.sh" --name arctic_vc --speakers "${src},${tgt}" --f0-ranges "${here}/conf/f0_ranges.txt" \
    --conf "${here}/conf/vc.yaml" --n-dev 50 --n-eval 50 --workdir "${workdir:-data/arctic_vc_${src}_${tgt}}" \
    ${rest[@]+"${rest[@]}"}
