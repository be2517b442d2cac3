#!/usr/bin/env bash
# Any folder of wav files (searched recursively). Fixed split by sorted file name:
# the last 8 utterances are eval, the 8 before them dev, the rest train.
# Usage: recipes/folder/run.sh --wavdir DIR [--name NAME] [--stage N] [--stop-stage M] [--conf FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wavdir=""
name=folder
conf=${here}/conf/default.yaml
n_dev=${n_dev:-8}
n_eval=${n_eval:-8}
extra_usage="--wavdir DIR [--name NAME]"
parse_extra_arg() {
    case "$1" in
        --wavdir) wavdir=$2 ;;
        --name) name=$2; workdir=data/$2 ;;
        *) return 1 ;;
    esac
}
data_prep() {
    [ -d "${wavdir}" ] || { echo "--wavdir DIR is required (a folder of wav files)" >&2; exit 1; }
    speechvae lists "${wavdir}" -o "$1" --n-dev "${n_dev}" --n-eval "${n_eval}"
}
source "${here}/../TEMPLATE/stages.sh"
