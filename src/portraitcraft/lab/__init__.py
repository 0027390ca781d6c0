"""The composition lab: a synthetic PortraitCraft whose images are rendered from recorded composition
factors and whose labels are documented functions of those factors plus noise.

For example::

    from portraitcraft.lab import (image_rng, render_scene, sample_factors,
                                   write_lab)

    # the published layout, plus ground truth and factors
    write_lab("data/my-lab", n_train=30, n_test=10, seed=0)
    f = sample_factors(image_rng(0, "demo", 0))  # one scene's factors
    # the same scene with only the horizon tilted
    render_scene(f.replace(horizon_tilt=8.0))

Modules: `factors` (what a scene is), `render` (drawing it), `annotate` (scores, reasons, questions),
`describe` (Track 2 texts), `writer` (files on disk).
"""

from __future__ import annotations

from portraitcraft.lab.annotate import (
    MODELS,
    TERMS,
    expected_scores,
    label_attributes,
    make_question,
    model_table,
    term_values,
    total_from_scores,
)
from portraitcraft.lab.describe import describe_scene
from portraitcraft.lab.factors import Factors, frame_size, image_rng, sample_factors
from portraitcraft.lab.render import render_scene, subject_box
from portraitcraft.lab.writer import (
    FACTORS_FILE,
    GROUND_TRUTH_FILE,
    LabSummary,
    make_record,
    write_lab,
)

__all__ = [
    "FACTORS_FILE", "GROUND_TRUTH_FILE", "MODELS", "TERMS", "Factors", "LabSummary", "describe_scene",
    "expected_scores", "frame_size", "image_rng", "label_attributes", "make_question", "make_record",
    "model_table", "render_scene", "sample_factors", "subject_box", "term_values",
    "total_from_scores", "write_lab",
]
