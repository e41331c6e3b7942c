"""The shapes world (``shapes_world.md``): the procedural world of the embedded miniature model.

``world`` (palette, vocabulary, scenes), ``render`` (images and story videos), ``captions``
(captioner and parser) and ``detect`` (the judge). Only numpy, PIL and OpenCV are imported here;
the model, its training and its measurements live one floor up, in :mod:`direct2v.miniature`.

The functions ``render`` and ``detect`` are re-exported under the names of their modules, so
``from direct2v.world import render`` gives the function; import the modules by their full
name (``from direct2v.world.render import render_story``).
"""
from .world import (BACKGROUNDS, CANVAS, COLORS, COLUMNS, DECORATIONS, ROWS, SHAPE_SYNONYMS,
                    SHAPES, SIZES, VOCABULARY, Obj, Scene, anchor_center, nearest_column,
                    nearest_row, normalize_words, random_scene, size_class)
from .render import Drawn, render, render_story, render_with_truth
from .captions import (ParsedObject, ParsedScene, caption, object_phrase, parse, parsed_matches,
                       position_phrase, training_caption)
from .detect import DetectedObject, Detection, detect, judge, judge_objects, match

__all__ = [
    "BACKGROUNDS", "CANVAS", "COLORS", "COLUMNS", "DECORATIONS", "ROWS", "SHAPE_SYNONYMS",
    "SHAPES", "SIZES", "VOCABULARY", "Obj", "Scene", "anchor_center", "nearest_column",
    "nearest_row", "normalize_words", "random_scene", "size_class",
    "Drawn", "render", "render_story", "render_with_truth",
    "ParsedObject", "ParsedScene", "caption", "object_phrase", "parse", "parsed_matches",
    "position_phrase", "training_caption",
    "DetectedObject", "Detection", "detect", "judge", "judge_objects", "match",
]
