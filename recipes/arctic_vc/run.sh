#!/usr/bin/env bash
# Voice conversion on a parallel CMU ARCTIC pair: a speaker-conditioned VAE trained on both speakers' frames
# (no pairing), converting each speaker's held-out sentences into the other's voice, scored against the
# other speaker's recordings of the same sentences beside the two references (no conversion, mean/std matching).
#
# Layout: DB/<spk>/arctic_a0001.wav ... (the same names for both speakers = the same sentences), e.g.
# ../shared/corpora/cmu_arctic_bdl_slt/. Split by sentence name, the same for both speakers: the last 50
# names are eval, the 50 before them dev, the rest train.
#
#   stage 0: data       both speakers' wavs -> lists (train/dev/eval by sentence name)
#   stage 1: analyze    WORLD analysis with each speaker's F0 range (conf/f0_ranges.txt)
#   stage 2: references none and mean/std matching, both directions, on eval (speechvae baseline vc)
#   stage 3: train      the speaker-conditioned VAE (conf/vc.yaml) on train, dev held out
#   stage 4: convert    eval sentences of each speaker into the other's voice -> features + wavs
#   stage 5: evaluate   DTW MCD (two protocols) / F0 RMSE vs the target's recordings beside the references; with
#                       speechvae[quality] also speaker similarity and DNSMOS beside the target's copy synthesis
#                       (about 15 s per sentence); speaker leakage of z; source / converted / target envelope figures
#   stage 6: page       a listening page per direction: players, spectrograms and numbers of every system
#
# Usage: recipes/arctic_vc/run.sh --db DIR [--src bdl] [--tgt slt] [--stage N] [--stop-stage M] [--nj J]
#                                 [--conf FILE] [--workdir DIR] [--train-args "ARGS"] [--n-dev 50] [--n-eval 50]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=""; src=bdl; tgt=slt; stage=0; stop_stage=100; nj=2
conf=${here}/conf/vc.yaml; ranges=${here}/conf/f0_ranges.txt; workdir=""; train_args=""
n_dev=50; n_eval=50
help_message="Usage: $0 --db DIR [--src SPK] [--tgt SPK] [--stage N] [--stop-stage M] [--nj J] [--conf FILE] [--workdir DIR] [--train-args ARGS] [--n-dev N] [--n-eval N]
  stages: 0 data, 1 analyze, 2 references, 3 train, 4 convert, 5 evaluate, 6 page"
while [ $# -gt 0 ]; do
    case "$1" in
        --db) db=$2 ;;
        --src) src=$2 ;;
        --tgt) tgt=$2 ;;
        --stage) stage=$2 ;;
        --stop-stage|--stop_stage) stop_stage=$2 ;;
        --nj) nj=$2 ;;
        --conf) conf=$2 ;;
        --workdir) workdir=$2 ;;
        --train-args) train_args=$2 ;;
        --n-dev) n_dev=$2 ;;
        --n-eval) n_eval=$2 ;;
        -h|--help) echo "${help_message}"; exit 0 ;;
        *) echo "unknown option: $1" >&2; echo "${help_message}" >&2; exit 1 ;;
    esac
    shift 2
done
workdir=${workdir:-data/arctic_vc_${src}_${tgt}}
tag=$(basename "${conf}" .yaml)
lists=${workdir}/lists; feat=${workdir}/feats; exp=${workdir}/exp/${tag}
say() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (arctic_vc:stage ${1}) ${*:2}"; }

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    for s in "${src}" "${tgt}"; do
        [ -d "${db}/${s}" ] || { echo "${db}/${s}: not found (--db DIR holding one folder of wavs per speaker)" >&2; exit 1; }
    done
    say 0 "data: ${db}/{${src},${tgt}} -> ${lists}"
    mkdir -p "${lists}"
    speechvae lists "${db}/${src}" "${db}/${tgt}" -o "${lists}" --n-dev 0 --n-eval 0 >/dev/null
    # the sentences both speakers read, by name; the last n_eval names are eval, the n_dev before them dev
    cut -d' ' -f1 "${lists}/all.list" | sed 's#.*/##' | sort | uniq -d > "${lists}/shared_names"
    tail -n "${n_eval}" "${lists}/shared_names" > "${lists}/eval_names"
    head -n -"${n_eval}" "${lists}/shared_names" | tail -n "${n_dev}" > "${lists}/dev_names"
    for n in train dev eval; do
        awk -v n="${n}" -v ev="${lists}/eval_names" -v dv="${lists}/dev_names" '
            BEGIN { while ((getline l < ev) > 0) e[l] = 1; while ((getline l < dv) > 0) d[l] = 1 }
            { name = $1; sub(/.*\//, "", name); k = (name in e) ? "eval" : (name in d) ? "dev" : "train" }
            k == n' "${lists}/all.list" > "${lists}/${n}.list"
    done
    grep "^${src}/" "${lists}/eval.list" > "${lists}/eval_${src}.list" || true
    grep "^${tgt}/" "${lists}/eval.list" > "${lists}/eval_${tgt}.list" || true
    [ -s "${lists}/eval_${src}.list" ] && [ -s "${lists}/eval_${tgt}.list" ] || {
        echo "${db}: ${src} and ${tgt} share no sentence names (parallel recordings needed for evaluation)" >&2; exit 1; }
    say 0 "$(wc -l < "${lists}/train.list") train, $(wc -l < "${lists}/dev.list") dev, $(wc -l < "${lists}/eval.list") eval utterances"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    say 1 "analyze (F0 ranges ${ranges}) -> ${feat}"
    rc=0
    speechvae analyze "${lists}/all.list" -o "${feat}" --config "${conf}" -j "${nj}" \
        --set analysis.f0_ranges="${ranges}" || rc=$?
    [ "${rc}" -eq 0 ] || [ "${rc}" -eq 1 ] || exit "${rc}"  # 1: some files failed (named above), the rest stored
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    for pair in "${src} ${tgt}" "${tgt} ${src}"; do
        set -- ${pair}
        say 2 "references $1 -> $2 on eval -> ${workdir}/references/$1_$2"
        speechvae baseline vc "${feat}" --src "$1" --tgt "$2" --train-list "${lists}/train.list" \
            --list "${lists}/eval_$1.list" -o "${workdir}/references/$1_$2"
    done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    resume=""
    if [ -f "${exp}/checkpoint.pt" ] && [[ " ${train_args} " != *" --overwrite "* ]]; then resume="--resume"; fi
    say 3 "train the speaker-conditioned VAE -> ${exp} ${resume}"
    # shellcheck disable=SC2086
    speechvae train "${feat}" -o "${exp}" --config "${conf}" --train-list "${lists}/train.list" \
        --valid-list "${lists}/dev.list" ${resume} ${train_args}
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    for pair in "${src} ${tgt}" "${tgt} ${src}"; do
        set -- ${pair}
        say 4 "convert eval $1 -> $2: ${exp}/convert_$1_$2/{feats,wav}"
        speechvae convert --model "${exp}" "${feat}" --list "${lists}/eval_$1.list" --to "$2" -o "${exp}/convert_$1_$2"
    done
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    quality=""
    if python3 -c "from speechvae.quality import require; require()" 2>/dev/null; then quality="--quality"; else
        say 5 "speechvae[quality] not installed: MCD and F0 only (pip install 'speechvae[quality]')"; fi
    for pair in "${src} ${tgt}" "${tgt} ${src}"; do
        set -- ${pair}
        say 5 "evaluate $1 -> $2 against $2's recordings -> ${exp}/vc_$1_$2.json ${quality}"
        speechvae evaluate-vc "${exp}/convert_$1_$2" "${feat}" -o "${exp}/vc_$1_$2.json" --figure "${exp}/vc_$1_$2.png" \
            ${quality}
    done
    say 5 "reconstruction and speaker leakage of z on eval -> ${exp}/metrics.json"
    speechvae evaluate --model "${exp}" "${feat}" --list "${lists}/eval.list" -o "${exp}/metrics.json"
    python3 - "${exp}" "${src}" "${tgt}" <<'EOF'
import json, sys
exp, a, b = sys.argv[1:]
print(f"{'direction':<12} {'system':<16} {'DTW MCD dB':>10} {'c0 voiced':>9} {'F0 cents':>8} {'sim tgt':>7} "
      f"{'sim src':>7} {'nearer':>6} {'DNSMOS':>6}")
f = lambda v, p: "-" if v is None else f"{v:.{p}f}"
for s, t in ((a, b), (b, a)):
    m = json.load(open(f"{exp}/vc_{s}_{t}.json"))
    q = m.get("quality", {}).get("systems", {})
    for name in ("none", "meanstd", "model", "target_copy", "target_recording"):
        r, x = m.get(name, {}), q.get(name, {})
        if not r and not x:
            continue
        print(f"{s + ' -> ' + t:<12} {name:<16} {f(r.get('mcd_db'), 2):>10} {f(r.get('mcd_c0_voiced_db'), 2):>9} "
              f"{f(r.get('f0_rmse_cents'), 0):>8} {f(x.get('similarity_target'), 3):>7} "
              f"{f(x.get('similarity_source'), 3):>7} {f(x.get('nearer_target'), 2):>6} {f(x.get('dnsmos_p808'), 2):>6}")
leak = json.load(open(f"{exp}/metrics.json")).get("speaker_leakage")
if leak:
    print(f"speaker leakage: a linear classifier on held-out z is right on {100 * leak['speaker_accuracy']:.0f}% "
          f"of frames (chance {100 * leak['chance']:.0f}%)")
EOF
    say 5 "done: converted wavs in ${exp}/convert_*/wav, figures ${exp}/vc_*.png"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    for pair in "${src} ${tgt}" "${tgt} ${src}"; do
        set -- ${pair}
        say 6 "listening page $1 -> $2: ${exp}/page_$1_$2/index.html"
        speechvae report "${exp}/convert_$1_$2" "${feat}" --metrics "${exp}/vc_$1_$2.json" -o "${exp}/page_$1_$2"
    done
fi
