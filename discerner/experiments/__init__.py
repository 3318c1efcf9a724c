"""A/B experiments between registered model versions: definitions, assignment and analysis.

An experiment splits users between variants, each a registered version or an alias of the
served model, by shares summing to 100. A user's variant is a stable hash of the experiment's
name and the user's id (`assign`), so every server process and host sends a user to the same
variant without sharing anything but the definition. Definitions are registered-model tags
(`experiment.<name>`, JSON) in the MLflow registry (`book`), which every process already
polls for the champion; at most one experiment runs at a time. Each list served under an
experiment is an impression (request id, user, variant, version, products in rank order,
time) kept by the store (`add_impressions`, `impressions`). `analysis` joins impressions with
the activities that followed them and compares the variants with intervals and a test.
"""

from discerner.experiments.definition import (
    Experiment,
    ExperimentConflict,
    ExperimentError,
    UnknownExperiment,
    Variant,
    assign,
    parse_variant,
    sampled,
)

__all__ = ["Experiment", "ExperimentConflict", "ExperimentError", "UnknownExperiment", "Variant"]
__all__ += ["assign", "parse_variant", "sampled"]
