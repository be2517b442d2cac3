#!/usr/bin/env bash
# Voice conversion on any corpus given as speaker folders: one speaker-conditioned VAE for all of the speakers,
# every source -> target direction converted and scored beside its references, an N x N matrix and a listening
# page per direction.
#
# Layout: DB/<speaker>/<name>.wav (searched recursively inside each speaker folder). The same file name for two
# speakers means the same sentence (a parallel corpus: CMU ARCTIC, the VCC sets); speakers need not share any
# (non-parallel). Split by sentence name (`speechvae lists --by-sentence`): of the names two or more speakers read,
# the last --n-eval are eval and the --n-dev before them dev, for everyone who read them; a speaker who reads none
# of them holds out its own last utterances.
#
#   stage 0: data       speaker folders -> lists (train/dev/eval by sentence; eval_<speaker>.list)
#   stage 1: analyze    WORLD analysis; F0 range per speaker found from the data (--f0-ranges auto) or a file
#   stage 2: references no conversion and mean/std matching on the eval sentences of every parallel direction
#   stage 3: train      the speaker-conditioned VAE (--conf, default conf/vc.yaml) on train, dev held out
#   stage 4: convert    each speaker's eval utterances into every other speaker's voice -> features + wavs,
#                       through the post-filter the config names (--convert-args "--no-gv-postfilter" or other
#                       flags of `speechvae convert` per run)
#   stage 5: evaluate   every direction: DTW MCD (two protocols) and F0 RMSE against the target's recordings of the
#                       same sentences (parallel directions) beside the references; with speechvae[quality] also
#                       speaker similarity and DNSMOS beside the target's copy synthesis (the only measures of a
#                       direction with no common sentence); speaker leakage of z; the N x N matrix (exp/matrix)
#   stage 6: pages      a listening page per direction, linked from exp/matrix/index.html
#
# Usage: recipes/vc/run.sh --db DIR [--speakers a,b,c] [--f0-ranges auto|FILE] [--stage N] [--stop-stage M]
#                          [--nj J] [--conf FILE] [--workdir DIR] [--train-args "ARGS"] [--convert-args "ARGS"]
#                          [--n-dev 10] [--n-eval 10]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=""; speakers=""; ranges=auto; stage=0; stop_stage=100; nj=2
conf=${here}/conf/vc.yaml; workdir=""; train_args=""; convert_args=""; n_dev=10; n_eval=10; name=vc
help_message="Usage: $0 --db DIR [--speakers a,b,c] [--f0-ranges auto|FILE] [--stage N] [--stop-stage M] [--nj J] [--conf FILE] [--workdir DIR] [--train-args ARGS] [--convert-args ARGS] [--n-dev N] [--n-eval N]
  stages: 0 data, 1 analyze, 2 references, 3 train, 4 convert, 5 evaluate, 6 pages"
while [ $# -gt 0 ]; do
    case "$1" in -h|--help) echo "${help_message}"; exit 0 ;; esac
    [ $# -ge 2 ] || { echo "$1: needs a value" >&2; echo "${help_message}" >&2; exit 1; }
    case "$1" in
        --db) db=$2 ;;
        --speakers) speakers=$2 ;;
        --f0-ranges) ranges=$2 ;;
        --stage) stage=$2 ;;
        --stop-stage|--stop_stage) stop_stage=$2 ;;
        --nj) nj=$2 ;;
        --conf) conf=$2 ;;
        --workdir) workdir=$2 ;;
        --train-args) train_args=$2 ;;
        --convert-args) convert_args=$2 ;;  # extra flags of `speechvae convert` (e.g. "--gv-postfilter")
        --n-dev) n_dev=$2 ;;
        --n-eval) n_eval=$2 ;;
        --name) name=$2 ;;  # the name in the log lines (a recipe calling this one gives its own)
        *) echo "unknown option: $1" >&2; echo "${help_message}" >&2; exit 1 ;;
    esac
    shift 2
done
[ -n "${db}" ] || { echo "--db DIR is required (a folder of speaker folders of wavs)" >&2; echo "${help_message}" >&2; exit 1; }
[ -d "${db}" ] || { echo "${db}: not a folder (--db DIR holding one folder of wavs per speaker)" >&2; exit 1; }
workdir=${workdir:-data/vc_$(basename "$(cd "${db}" && pwd)")}
tag=$(basename "${conf}" .yaml)
lists=${workdir}/lists; feat=${workdir}/feats; exp=${workdir}/exp/${tag}
say() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${name}:stage ${1}) ${*:2}"; }
has_wav() { [ -n "$(find -L "$1" -name '*.wav' -type f -print -quit 2>/dev/null)" ]; }

# the speakers: --speakers, else every folder of DB that holds wavs (sorted); two or more
if [ -n "${speakers}" ]; then
    IFS=, read -r -a spk <<< "${speakers}"
    for s in "${spk[@]}"; do
        [ -d "${db}/${s}" ] || { echo "${db}/${s}: not found (--speakers names folders of --db)" >&2; exit 1; }
        has_wav "${db}/${s}" || { echo "${db}/${s}: no wav files" >&2; exit 1; }
    done
else
    spk=()
    while IFS= read -r d; do has_wav "${d}" && spk+=("$(basename "${d}")"); done \
        < <(find -L "${db}" -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort)  # -L: speaker folders may be links
fi
if [ "${#spk[@]}" -lt 2 ]; then
    if [ "${#spk[@]}" -eq 0 ]; then why="no folder of wav files"; else why="one speaker folder with wavs (${spk[*]})"; fi
    echo "${db}: ${why}; voice conversion needs two or more speakers, one folder of wavs each (DB/<speaker>/*.wav)" >&2
    exit 1
fi
# ordered pairs of distinct speakers: every direction
pairs=(); for s in "${spk[@]}"; do for t in "${spk[@]}"; do [ "${s}" = "${t}" ] || pairs+=("${s} ${t}"); done; done
names() { cut -d' ' -f1 "$1" | sed 's#.*/##' | LC_ALL=C sort; }
parallel() { [ -n "$(LC_ALL=C comm -12 <(names "${lists}/eval_$1.list") <(names "${lists}/eval_$2.list"))" ]; }
quality_ok() { python3 -c "from speechvae.evaluation.quality import require; require()" 2>/dev/null; }

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    say 0 "data: ${#spk[@]} speakers (${spk[*]}) of ${db} -> ${lists}"
    mkdir -p "${lists}"
    speechvae lists "${spk[@]/#/${db}/}" -o "${lists}" --by-sentence --n-dev "${n_dev}" --n-eval "${n_eval}"
    for s in "${spk[@]}"; do
        [ -s "${lists}/eval_${s}.list" ] || { echo "${db}/${s}: too few utterances to hold any out (3 or more needed)" >&2; exit 1; }
    done
    say 0 "$(wc -l < "${lists}/train.list") train, $(wc -l < "${lists}/dev.list") dev, $(wc -l < "${lists}/eval.list") eval utterances"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    say 1 "analyze (F0 ranges: ${ranges}) -> ${feat}"
    rc=0
    speechvae analyze "${lists}/all.list" -o "${feat}" --config "${conf}" -j "${nj}" --f0-ranges "${ranges}" || rc=$?
    [ "${rc}" -eq 0 ] || [ "${rc}" -eq 1 ] || exit "${rc}"  # 1: some files failed (named above), the rest stored
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    for pair in "${pairs[@]}"; do
        set -- ${pair}
        if ! parallel "$1" "$2"; then say 2 "$1 -> $2: no eval sentence in common: no MCD references"; continue; fi
        say 2 "references $1 -> $2 on eval -> ${workdir}/references/$1_$2"
        speechvae baseline vc "${feat}" --src "$1" --tgt "$2" --train-list "${lists}/train.list" \
            --list "${lists}/eval_$1.list" -o "${workdir}/references/$1_$2"
    done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    resume=""
    if [ -f "${exp}/checkpoint.pt" ] && [[ " ${train_args} " != *" --overwrite "* ]]; then resume="--resume"; fi
    say 3 "train the speaker-conditioned VAE on ${#spk[@]} speakers -> ${exp} ${resume}"
    # shellcheck disable=SC2086
    speechvae train "${feat}" -o "${exp}" --config "${conf}" --train-list "${lists}/train.list" \
        --valid-list "${lists}/dev.list" ${resume} ${train_args}
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    for pair in "${pairs[@]}"; do
        set -- ${pair}
        say 4 "convert eval $1 -> $2: ${exp}/convert_$1_$2/{feats,wav}"
        # shellcheck disable=SC2086  # convert_args: several flags
        speechvae convert --model "${exp}" "${feat}" --list "${lists}/eval_$1.list" --to "$2" -o "${exp}/convert_$1_$2" \
            ${convert_args}
    done
fi

scored=()  # the directions with an evaluate-vc JSON
for pair in "${pairs[@]}"; do set -- ${pair}; [ -f "${exp}/vc_$1_$2.json" ] && scored+=("${exp}/vc_$1_$2.json"); done

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    quality=""
    # the judgements of every waveform are kept beside the features: the references (unchanged from one model to the
    # next) are judged once, and a re-run with a new model judges only its conversions
    if quality_ok; then quality="--quality --quality-cache ${workdir}/quality_cache"; else
        say 5 "speechvae[quality] not installed: MCD and F0 only (pip install 'speechvae[quality]')"; fi
    scored=()
    for pair in "${pairs[@]}"; do
        set -- ${pair}
        rm -f "${exp}/vc_$1_$2.json"
        if parallel "$1" "$2"; then
            say 5 "evaluate $1 -> $2 against $2's recordings -> ${exp}/vc_$1_$2.json ${quality}"
            speechvae evaluate-vc "${exp}/convert_$1_$2" "${feat}" -o "${exp}/vc_$1_$2.json" \
                --figure "${exp}/vc_$1_$2.png" ${quality}
        elif [ -n "${quality}" ]; then
            say 5 "evaluate $1 -> $2 (no sentence in common: speaker similarity and DNSMOS) -> ${exp}/vc_$1_$2.json"
            # shellcheck disable=SC2086  # quality: two flags
            speechvae evaluate-vc "${exp}/convert_$1_$2" "${feat}" -o "${exp}/vc_$1_$2.json" ${quality}
        else
            say 5 "$1 -> $2: no sentence in common and no speechvae[quality]: nothing to measure"; continue
        fi
        scored+=("${exp}/vc_$1_$2.json")
    done
    say 5 "reconstruction and speaker leakage of z on eval -> ${exp}/metrics.json"
    speechvae evaluate --model "${exp}" "${feat}" --list "${lists}/eval.list" -o "${exp}/metrics.json"
    if [ "${#scored[@]}" -gt 0 ]; then
        say 5 "every direction -> ${exp}/matrix/{matrix.md,matrix.png,index.html}"
        speechvae matrix "${scored[@]}" -o "${exp}/matrix"
    fi
    python3 - "${exp}/metrics.json" <<'EOF'
import json, sys
leak = json.load(open(sys.argv[1])).get("speaker_leakage")
if leak:
    print(f"speaker leakage: a linear classifier on held-out z is right on {100 * leak['speaker_accuracy']:.0f}% "
          f"of frames (chance {100 * leak['chance']:.0f}%)")
EOF
    say 5 "done: converted wavs in ${exp}/convert_*/wav, figures ${exp}/vc_*.png, ${exp}/matrix/matrix.png"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    for pair in "${pairs[@]}"; do
        set -- ${pair}
        [ -f "${exp}/vc_$1_$2.json" ] || { say 6 "$1 -> $2: not evaluated (stage 5): no page"; continue; }
        say 6 "listening page $1 -> $2: ${exp}/page_$1_$2/index.html"
        speechvae report "${exp}/convert_$1_$2" "${feat}" --metrics "${exp}/vc_$1_$2.json" -o "${exp}/page_$1_$2" \
            >/dev/null
    done
    if [ "${#scored[@]}" -gt 0 ]; then
        speechvae matrix -q "${scored[@]}" -o "${exp}/matrix" >/dev/null  # again, now linking the pages
        say 6 "done: open ${exp}/matrix/index.html"
    fi
fi
