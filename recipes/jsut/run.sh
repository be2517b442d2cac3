#!/usr/bin/env bash
# JSUT basic5000: DB/basic5000/wav/BASIC5000_NNNN.wav (48 kHz; analysed at 24 kHz).
# Fixed split by utterance id: BASIC5000_4901-5000 eval, 4801-4900 dev, the rest train.
# Usage: recipes/jsut/run.sh --db DIR [--stage N] [--stop-stage M] [--conf FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=""
name=jsut
conf=${here}/conf/default.yaml
analyze_args="--fs 24000"  # JSUT is 48 kHz; 24 kHz keeps the band speech needs (alpha 0.466, FFT 1024)
extra_usage="--db DIR"
parse_extra_arg() {
    case "$1" in
        --db) db=$2 ;;
        *) return 1 ;;
    esac
}
data_prep() {
    local wavdir="${db}/basic5000/wav"
    [ -d "${wavdir}" ] || { echo "${wavdir}: not found (expected JSUT's basic5000 layout; --db DIR)" >&2; exit 1; }
    speechvae lists "${wavdir}" -o "$1" --n-dev 100 --n-eval 100
}
source "${here}/../TEMPLATE/stages.sh"
