"""The names inside an experiment folder (``speechvae train -o EXPDIR``), shared by the stages that write it and
those that read it::

    EXPDIR/checkpoint.pt   weights, config, normalisation statistics, history (speechvae.models.checkpoint)
    EXPDIR/config.yaml     the resolved config, to read
    EXPDIR/log.csv         one row per epoch: loss terms, held-out MCD, posterior monitors, dead units
    EXPDIR/data.json       where the frames came from: feature folder, training and held-out ids

"""
from __future__ import annotations

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_YAML = "config.yaml"
LOG_CSV = "log.csv"
DATA_JSON = "data.json"  # where the experiment's frames came from: feature folder, train / valid ids


class ExperimentError(ValueError):
    """An experiment folder that cannot be used as asked (would overwrite a model, nothing to resume)."""
