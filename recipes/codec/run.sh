#!/usr/bin/env bash
# A speech codec trained on the speakers it is given: a residual VQ-VAE whose first 1..4 codebooks are each an
# envelope code (quantizer dropout), with F0, voicing, power and aperiodicity scalar-quantised per 20 ms, written as
# bitstream files and judged on held-out sentences beside Codec2, Opus, WORLD copy synthesis and the recordings.
#
# Layout: DB/<speaker>/<name>.wav (one folder per speaker; e.g. ../shared/corpora/cmu_arctic_bdl_slt/). Split by
# sentence name, as recipes/vc does: the last --n-eval names are eval, the --n-dev before them dev.
#
#   stage 0: data       speaker folders -> lists (train/dev/eval)
#   stage 1: analyze    WORLD analysis with the conf's settings (those the encoder uses)
#   stage 2: train      the codec's VQ-VAE (--conf, default conf/codec.yaml); its side-stream quantisers are
#                       fitted on the training utterances and kept in the checkpoint
#   stage 3: codec      eval wavs -> bitstreams at each --rates (kbit/s) -> wavs, with the bit rate measured from the
#                       files: exp/<conf>/bits_<rate>k, exp/<conf>/wav_<rate>k
#   stage 4: evaluate   speechvae at each rate beside Codec2 (700C, 1300, 2400, 3200) and Opus (6, 8, 10 kbit/s),
#                       WORLD copy synthesis and the recordings: PESQ-WB/NB, STOI, DNSMOS, speaker similarity, a
#                       figure and a listening page (exp/<conf>/eval/index.html); --unseen DIR (wavs of speakers the
#                       model never heard, one folder each) adds the same judged on them (exp/<conf>/unseen/).
#                       Needs speechvae[quality]; Codec2 / Opus rows need the codec2 / opus-tools packages.
#
# Usage: recipes/codec/run.sh --db DIR [--conf FILE] [--workdir DIR] [--stage N] [--stop-stage M] [--nj J]
#                             [--rates "1.2 1.6 2.4"] [--unseen DIR] [--n-dev 10] [--n-eval 10] [--train-args "ARGS"]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=""; conf=${here}/conf/codec.yaml; workdir=""; stage=0; stop_stage=100; nj=2; rates="1.2 1.6 2.4"; unseen=""
n_dev=10; n_eval=10; train_args=""
help_message="Usage: $0 --db DIR [--conf FILE] [--workdir DIR] [--stage N] [--stop-stage M] [--nj J] [--rates \"1.2 1.6 2.4\"] [--unseen DIR] [--n-dev N] [--n-eval N] [--train-args ARGS]
  stages: 0 data, 1 analyze, 2 train, 3 codec, 4 evaluate"
while [ $# -gt 0 ]; do
    case "$1" in -h|--help) echo "${help_message}"; exit 0 ;; esac
    [ $# -ge 2 ] || { echo "$1: needs a value" >&2; echo "${help_message}" >&2; exit 1; }
    case "$1" in
        --db) db=$2 ;;
        --conf) conf=$2 ;;
        --workdir) workdir=$2 ;;
        --stage) stage=$2 ;;
        --stop-stage|--stop_stage) stop_stage=$2 ;;
        --nj) nj=$2 ;;
        --rates) rates=$2 ;;
        --unseen) unseen=$2 ;;
        --n-dev) n_dev=$2 ;;
        --n-eval) n_eval=$2 ;;
        --train-args) train_args=$2 ;;
        *) echo "unknown option: $1" >&2; echo "${help_message}" >&2; exit 1 ;;
    esac
    shift 2
done
[ -n "${db}" ] || { echo "--db DIR is required (a folder of speaker folders of wavs)" >&2; echo "${help_message}" >&2; exit 1; }
[ -d "${db}" ] || { echo "${db}: not a folder (--db DIR holding one folder of wavs per speaker)" >&2; exit 1; }
[ -f "${conf}" ] || { echo "${conf}: no such config (--conf FILE)" >&2; exit 1; }
[ -z "${unseen}" ] || [ -d "${unseen}" ] || { echo "${unseen}: not a folder (--unseen DIR of wavs)" >&2; exit 1; }
workdir=${workdir:-data/codec_$(basename "$(cd "${db}" && pwd)")}
tag=$(basename "${conf}" .yaml)
lists=${workdir}/lists; feat=${workdir}/feats; exp=${workdir}/exp/${tag}
say() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (codec:stage ${1}) ${*:2}"; }
quality_ok() { python3 -c "from speechvae.evaluation.quality import require; require()" 2>/dev/null; }
read -r -a rate_list <<< "${rates}"

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    say 0 "data: speaker folders of ${db} -> ${lists}"
    speechvae lists "${db}" -o "${lists}" --by-sentence --n-dev "${n_dev}" --n-eval "${n_eval}"
    say 0 "$(wc -l < "${lists}/train.list") train, $(wc -l < "${lists}/dev.list") dev, $(wc -l < "${lists}/eval.list") eval utterances"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    say 1 "analyze -> ${feat}"
    rc=0
    speechvae analyze "${lists}/all.list" -o "${feat}" --config "${conf}" -j "${nj}" || rc=$?
    [ "${rc}" -eq 0 ] || [ "${rc}" -eq 1 ] || exit "${rc}"  # 1: some files failed (named above), the rest stored
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    resume=""
    if [ -f "${exp}/checkpoint.pt" ] && [[ " ${train_args} " != *" --overwrite "* ]]; then resume="--resume"; fi
    say 2 "train the codec's VQ-VAE -> ${exp} ${resume}"
    # shellcheck disable=SC2086
    speechvae train "${feat}" -o "${exp}" --config "${conf}" --train-list "${lists}/train.list" \
        --valid-list "${lists}/dev.list" ${resume} ${train_args}
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    for r in "${rate_list[@]}"; do
        say 3 "eval at ${r} kbit/s -> ${exp}/bits_${r}k -> ${exp}/wav_${r}k"
        speechvae codec encode "${lists}/eval.list" --model "${exp}" -o "${exp}/bits_${r}k" --bitrate "${r}"
        speechvae codec decode "${exp}/bits_${r}k" --model "${exp}" -o "${exp}/wav_${r}k"
    done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    if ! quality_ok; then
        say 4 "speechvae[quality] not installed: no judging (pip install 'speechvae[quality]')"
    else
        say 4 "evaluate eval beside Codec2, Opus and WORLD copy synthesis -> ${exp}/eval/index.html"
        speechvae codec evaluate "${lists}/eval.list" --model "${exp}" -o "${exp}/eval" --rates "${rate_list[@]}" \
            -j "${nj}" --title "speechvae codec: held-out sentences of its own speakers"
        if [ -n "${unseen}" ]; then
            say 4 "evaluate the unseen speakers of ${unseen} -> ${exp}/unseen/index.html"
            speechvae codec evaluate "${unseen}" --model "${exp}" -o "${exp}/unseen" --rates "${rate_list[@]}" \
                -j "${nj}" --title "speechvae codec: speakers it never heard"
        fi
    fi
fi
say done "${exp}"
