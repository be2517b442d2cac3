#!/usr/bin/env bash
# CMU ARCTIC, one speaker: DB/cmu_us_<spk>_arctic/wav/arctic_[ab]NNNN.wav (16 kHz).
# Fixed split by utterance id (as sorted): the last 50 ids (b0490-b0539) are eval, the 50 before
# them (b0440-b0489) dev, the rest (a0001-a0593, b0001-b0439) train.
# Usage: recipes/cmu_arctic/run.sh --db DIR [--spk slt] [--stage N] [--stop-stage M] [--conf FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=""
spk=slt
name=cmu_arctic_${spk}
conf=${here}/conf/default.yaml
extra_usage="--db DIR [--spk SPK]"
parse_extra_arg() {
    case "$1" in
        --db) db=$2 ;;
        --spk) spk=$2; name=cmu_arctic_$2; workdir=data/cmu_arctic_$2 ;;
        *) return 1 ;;
    esac
}
data_prep() {
    local wavdir="${db}/cmu_us_${spk}_arctic/wav"
    [ -d "${wavdir}" ] || { echo "${wavdir}: not found (expected the CMU ARCTIC layout; --db DIR --spk SPK)" >&2; exit 1; }
    speechvae lists "${wavdir}" -o "$1" --n-dev 50 --n-eval 50
}
source "${here}/../TEMPLATE/stages.sh"
