"""The one vocabulary of every table, figure and page (docs/results.md, "Vocabulary").

``table``, ``plot`` and ``leaderboard render`` all take their words from here, so the same thing is
never called two names: a model is labelled ``SimpleBaseline + AdvMix`` everywhere, an unknown value
is an en dash everywhere, ground-truth boxes are ``GT boxes`` everywhere.
"""
from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Mapping, Sequence

from .datasets.cards import registry

# Shown for a value that is not known (missing backbone, a Tables 2-3 row's per-corruption score).
MISSING = "–"

#: Each registered dataset's title and their order: their cards' (``datasets/cards.py``), the one
#: source; a user's own dataset is titled by :func:`dataset_title` from the card its files recorded.
DATASET_TITLE: dict[str, str] = {name: card.title for name, card in registry().items()}
DATASET_ORDER: tuple[str, ...] = tuple(registry())


def dataset_title(dataset: str, card: Mapping[str, Any] | None = None) -> str:
    """How tables, figures and the page show ``dataset``: its registered card's title, else the title of
    ``card``, the card a results file (``provenance.dataset_card``) or an entry (``dataset_card``)
    recorded of a user's own dataset, else its name (files written before titles were recorded)."""
    if dataset in DATASET_TITLE:
        return DATASET_TITLE[dataset]
    title = card.get("title") if isinstance(card, Mapping) else None
    return title.strip() if isinstance(title, str) and title.strip() else dataset

# Column titles of the 15 benchmark corruptions in human-readable outputs (Markdown, LaTeX, the page,
# figures): the paper's short names. Machine-readable outputs (CSV, JSON) key by the engine's names.
CORRUPTION_TITLE: dict[str, str] = {
    "gaussian_noise": "Gauss", "shot_noise": "Shot", "impulse_noise": "Impulse",
    "defocus_blur": "Defocus", "glass_blur": "Glass", "motion_blur": "Motion", "zoom_blur": "Zoom",
    "snow": "Snow", "frost": "Frost", "fog": "Fog", "brightness": "Bright",
    "contrast": "Contrast", "elastic_transform": "Elastic", "pixelate": "Pixel", "jpeg_compression": "JPEG",
}

# Training methods: stored lower-case (entry field ``method``, ``submit --method``), shown like this.
TRAINING_TITLE: dict[str, str] = {"standard": "standard", "advmix": "AdvMix", "other": "other"}

# Axis / column unit of each primary metric.
METRIC_UNIT: dict[str, str] = {"AP": "AP (%)", "PCKh": "PCKh@0.5 (%)"}

GT_BOXES = "GT boxes"
GT_CENTRE_SCALE = "GT centre and scale"
ONE_STAGE = "none (one-stage)"
#: A model that finds the persons itself (bottom-up or single-stage regression): one label, ONE_STAGE.
#: Files written before it was unified say "none (bottom-up)"; they are read as this.
NO_BOXES = ONE_STAGE
DETECTIONS = "detections: "

#: How a model finds persons (entry field ``paradigm``): in boxes from elsewhere, or itself, one stage
#: (bottom-up models such as HigherHRNet and PifPaf, single-stage regressors such as YOLO-pose and RTMO;
#: the pipelines ``topdown`` / ``onestage``). Entries written before say "bottom-up": read as one-stage.
TOP_DOWN = "top-down"
ONE_STAGE_PARADIGM = "one-stage"
LEGACY_PARADIGMS = {"bottom-up": ONE_STAGE_PARADIGM}


def clean_title(metric: str) -> str:
    """The clean-score column: 'AP (clean)', 'PCKh (clean)'."""
    return f"{metric} (clean)"


def model_label(architecture: str, method: str | None) -> str:
    """'SimpleBaseline + AdvMix': the architecture, plus the training method when it is AdvMix."""
    if method == "advmix" and not architecture.endswith(" + AdvMix"):
        return f"{architecture} + AdvMix"
    return architecture


def is_path_like(text: str) -> bool:
    """True for text that names a file by path (never stored: paths are private and unportable)."""
    return "/" in text or "\\" in text or PureWindowsPath(text).drive != ""


def box_source_label(source: str | None) -> str | None:
    """The box source by name: 'GT boxes', 'GT centre and scale', 'none (one-stage)' (also for the older
    'none (bottom-up)') or 'detections: <file name>'. ``source`` is what a results file records (``gt``,
    ``mpii-annotation``, ``none``, ``model``, a detection file's path or name) or an already-named
    label, which is returned as is.
    """
    if source is None:
        return None
    text = str(source).strip()
    lowered = text.lower()
    if lowered in ("gt", "ground truth", "gt boxes", "ground-truth boxes"):
        return GT_BOXES
    if lowered in ("mpii-annotation", "gt centre and scale", "ground truth (mpii centre and scale)"):
        return GT_CENTRE_SCALE
    if lowered in ("none", "bottom-up", "none (bottom-up)", "model", "one-stage", "none (one-stage)"):
        return ONE_STAGE  # the model finds the persons itself
    if text.startswith(DETECTIONS):
        text = text[len(DETECTIONS):].strip()
    elif not (is_path_like(text) or lowered.endswith(".json")):
        return text  # someone's own wording: kept, it names no file
    if is_path_like(text):
        text = PureWindowsPath(text).name if "\\" in text else PurePosixPath(text).name
    return f"{DETECTIONS}{text}"


def paradigm_label(value: str | None) -> str | None:
    """An entry's ``paradigm`` in today's words: 'top-down' or 'one-stage' (also for the older
    'bottom-up'); None stays None."""
    if value is None:
        return None
    return LEGACY_PARADIGMS.get(value, value)


def paradigm_of_boxes(label: str | None) -> str | None:
    """The paradigm a box source implies: 'one-stage' for a model that finds the persons itself,
    'top-down' for GT boxes, MPII's centre and scale or detections; None for other wording."""
    label = box_source_label(label)
    if label == ONE_STAGE:
        return ONE_STAGE_PARADIGM
    if label in (GT_BOXES, GT_CENTRE_SCALE) or (label or "").startswith(DETECTIONS):
        return TOP_DOWN
    return None


#: eval's post-processing thresholds (config keys, the flags --det-thr, --in-vis-thr, --oks-thr, and the
#: names in config.non_standard) and their words in tables; HRNet's values are standard
THRESHOLD_NAMES = {"det_thr": "detection threshold", "in_vis_thr": "keypoint threshold", "oks_thr": "OKS-NMS"}
#: eval's other non-standard protocol settings (``config.non_standard`` names) and their words in tables
PROTOCOL_NAMES = {"images": "images with keypoints only"}


def non_standard_text(config: dict | None) -> str | None:
    """'non-standard: OKS-NMS 0.5' when eval ran with thresholds other than HRNet's, or scored only some
    images ('non-standard: images with keypoints only'), else None."""
    from .results import upgrade_config

    config = upgrade_config(config or {})  # results written before one name per threshold
    changed = config.get("non_standard") or []
    if not changed:
        return None
    parts = []
    for name in changed:
        if name in PROTOCOL_NAMES:
            parts.append(PROTOCOL_NAMES[name])
            continue
        key = name
        value = config.get(key)
        parts.append(f"{THRESHOLD_NAMES.get(key, key)} {value:g}" if isinstance(value, (int, float)) else str(name))
    return "non-standard: " + ", ".join(parts)


#: MPII's joint count: partial PCKh says how many of these it scored
MPII_JOINT_COUNT = 16


def partial_joints_text(joints: Sequence[str] | None) -> str | None:
    """'partial PCKh: 12/16 joints' for PCKh over the joints a model has (a COCO-17 model on MPII-C),
    else None: never to be read as a full PCKh."""
    if not joints:
        return None
    return f"partial PCKh: {len(joints)}/{MPII_JOINT_COUNT} joints"


def sample_text(images: int | None, persons: int | None) -> str:
    """'4 images, 14 persons' (either part left out when unknown)."""
    parts = []
    if images is not None:
        parts.append(f"{images:,} image{'s' if images != 1 else ''}")
    if persons is not None:
        parts.append(f"{persons:,} person{'s' if persons != 1 else ''}")
    return ", ".join(parts) or "sample size unknown"


def disambiguate(labels: Sequence[str], facts: Sequence[Sequence[str | None]]) -> list[str]:
    """Labels made unique: where several results share a label (two runs of one model, say), each gets
    the first fact that tells the group apart, e.g. 'movenet (GT boxes)' and 'movenet (detections:
    dets.json)'. ``facts[k][i]`` is fact k of result i (box source, date, file name...), None if unknown.
    """
    out = list(labels)
    for label in dict.fromkeys(labels):
        group = [i for i, x in enumerate(labels) if x == label]
        if len(group) < 2:
            continue
        for fact in [*facts, [f"#{i + 1}" for i in range(len(labels))]]:
            texts = [fact[i] for i in group]
            if all(texts) and len(set(texts)) == len(texts):
                for i, text in zip(group, texts):
                    out[i] = f"{label} ({text})"
                break
    return out
