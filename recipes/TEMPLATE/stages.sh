#!/usr/bin/env bash
# The one staged speechvae recipe. A corpus run.sh sets the variables below, defines
# `data_prep DATADIR` (writes DATADIR/{all,train,dev,eval}.list, 'utt_id path' lines) and sources this file.
#
#   stage 0: data      corpus -> list files (data_prep)
#   stage 1: analyze   WORLD analysis -> mel-cepstra        (speechvae analyze)
#   stage 2: stats     normalisation stats over train.list  (speechvae stats)
#   stage 3: train     VAE                                  (speechvae train)
#   stage 4: resynth   copy synthesis and VAE resynthesis of eval.list (speechvae resynth)
#   stage 5: evaluate  MCD / GV ratio on eval.list + plots  (speechvae evaluate, speechvae plot)
#   stage 6: report    listening page of eval.list          (speechvae report) -> exp/<tag>/report/index.html
set -euo pipefail

stage=${stage:-0}
stop_stage=${stop_stage:-100}
nj=${nj:-2}
conf=${conf:?run.sh must set conf}
tag=${tag:-$(basename "${conf}" .yaml)}
name=${name:?run.sh must set name}
workdir=${workdir:-data/${name}}
train_args=${train_args:-}
analyze_args=${analyze_args:-}

help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj J] [--conf FILE] [--tag TAG] [--workdir DIR] ${extra_usage:-}
  stages: 0 data, 1 analyze, 2 stats, 3 train, 4 resynth, 5 evaluate/plot, 6 report"

while [ $# -gt 0 ]; do
    case "$1" in
        --stage) stage=$2; shift 2 ;;
        --stop-stage|--stop_stage) stop_stage=$2; shift 2 ;;
        --nj) nj=$2; shift 2 ;;
        --conf) conf=$2; tag=$(basename "$2" .yaml); shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --workdir) workdir=$2; shift 2 ;;
        --train-args) train_args=$2; shift 2 ;;
        -h|--help) echo "${help_message}"; exit 0 ;;
        *) if declare -F parse_extra_arg >/dev/null && parse_extra_arg "$1" "${2:-}"; then shift 2;
           else echo "unknown option: $1" >&2; echo "${help_message}" >&2; exit 1; fi ;;
    esac
done

datadir=${workdir}/lists
featdir=${workdir}/feats
expdir=${workdir}/exp/${tag}
okdir=${featdir}/lists  # the lists restricted to utterances that analysis stored
say() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${name}:stage ${1}) ${*:2}"; }

# A wav that failed analysis is reported by stage 1 and left out from then on, so that a single
# unreadable file does not stop the recipe at a later stage on its missing features.
analysed_lists() {
    [ -f "${featdir}/manifest.tsv" ] || { echo "${featdir}/manifest.tsv: not found; run stage 1 (analyze) first" >&2; exit 2; }
    mkdir -p "${okdir}"
    for n in all train dev eval; do
        awk 'NR == FNR { if (FNR > 1) ok[$1] = 1; next } ($1 in ok)' "${featdir}/manifest.tsv" "${datadir}/${n}.list" \
            > "${okdir}/${n}.list"
        dropped=$(( $(wc -l < "${datadir}/${n}.list") - $(wc -l < "${okdir}/${n}.list") ))
        [ "${dropped}" -eq 0 ] || say 2 "WARNING: ${n}.list: ${dropped} utterance(s) not analysed, left out"
        [ -s "${okdir}/${n}.list" ] || { echo "${n}.list: no analysed utterance left" >&2; exit 2; }
    done
}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    say 0 "data: list files -> ${datadir}"
    mkdir -p "${datadir}"
    data_prep "${datadir}"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    say 1 "analyze: ${datadir}/all.list -> ${featdir}"
    rc=0
    # shellcheck disable=SC2086
    speechvae analyze "${datadir}/all.list" -o "${featdir}" --config "${conf}" -j "${nj}" ${analyze_args} || rc=$?
    # exit 1: some files failed (each named above) and the rest is stored; anything else stops here
    [ "${rc}" -eq 0 ] || [ "${rc}" -eq 1 ] || exit "${rc}"
    [ "${rc}" -eq 0 ] || say 1 "WARNING: the files named above failed; going on without them"
fi

if [ "${stop_stage}" -ge 2 ] && [ "${stage}" -le 6 ]; then
    analysed_lists
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    say 2 "stats over train.list -> ${featdir}/stats_train.npz"
    speechvae stats "${featdir}" --list "${okdir}/train.list" -o "${featdir}/stats_train.npz"
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    # A re-run continues a model already in EXPDIR (or does nothing if it is complete);
    # --train-args --overwrite trains it again from scratch.
    resume=""
    if [ -f "${expdir}/checkpoint.pt" ] && [[ " ${train_args} " != *" --overwrite "* ]]; then resume="--resume"; fi
    say 3 "train -> ${expdir} ${resume}"
    # shellcheck disable=SC2086
    speechvae train "${featdir}" -o "${expdir}" --config "${conf}" --stats "${featdir}/stats_train.npz" \
        --train-list "${okdir}/train.list" --valid-list "${okdir}/dev.list" ${resume} ${train_args}
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    say 4 "resynth eval.list: copy synthesis -> ${expdir}/wav_copy, VAE -> ${expdir}/wav_vae"
    speechvae resynth "${featdir}" --list "${okdir}/eval.list" -o "${expdir}/wav_copy"
    speechvae resynth "${featdir}" --list "${okdir}/eval.list" --model "${expdir}" -o "${expdir}/wav_vae"
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    say 5 "evaluate eval.list -> ${expdir}/metrics.json, plots -> ${expdir}/plots"
    speechvae evaluate --model "${expdir}" "${featdir}" --list "${okdir}/eval.list" -o "${expdir}/metrics.json"
    speechvae plot --model "${expdir}" "${featdir}" --list "${okdir}/eval.list" -o "${expdir}/plots"
    say 5 "done: metrics ${expdir}/metrics.json; wavs ${expdir}/wav_copy ${expdir}/wav_vae; plots ${expdir}/plots"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    say 6 "report: listening page of eval.list -> ${expdir}/report"
    page=$(speechvae -q report "${expdir}" "${featdir}" --list "${okdir}/eval.list" -o "${expdir}/report")
    say 6 "done: open ${page}"
fi
