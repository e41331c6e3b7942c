"""The frame director's instruction, as data (DirecT2V, Sec. 3.3 and Fig. 14; lifting, Sec. 4.3).

The paper sends an instruction-tuned LLM one message: a *task description* (envision the scene,
write F brief self-contained descriptions at R fps, neighbours differ a little, answer as a JSON
list), then four *rules* to follow before writing (actions, objects, setting, camera), then the
user prompt. Frame-rate lifting continues the conversation with one more request (Sec. 4.3).
Everything the package sends to an LLM is built here, in the paper's structure and our words. Optional worked examples (few-shot prompting, not in the paper) show a
small model what an answer looks like; the storyboard director writes them, so they are exact.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..world import world
from ..world.captions import caption
from .grammar import read_story
from .story import story_scenes

TASK = (
    "Given a user prompt, imagine a video scene and write {num_frames} distinct, brief image "
    "descriptions of it, one per frame, at a frame rate of {fps} fps. Each description must stand "
    "on its own: it names every object in the scene together with its properties. Frames are only "
    "a short interval apart, so two neighbouring descriptions may differ only a little. "
    'Answer in this format: ["", "", ..., ""].'
)

RULES_HEADER = "Before you write the descriptions, follow these instructions; they matter most:"


@dataclass(frozen=True)
class Rule:
    """One of the paper's four rules (Fig. 14): its short ``name``, the ``text`` sent to the LLM,
    and what it ``changes`` in the frame prompts (for the book's rule-by-rule reading)."""

    name: str
    text: str
    changes: str


RULES: tuple[Rule, ...] = (
    Rule("action",
         "Find the actions and events in the user prompt and break them down into steps.",
         "the story is spread over time: an event said once ('joins later') lands in particular frames"),
    Rule("object",
         "Find the objects the user prompt mentions and describe each of them.",
         "every frame names every object with its looks, so frames drawn independently agree on them"),
    Rule("setting",
         "Describe the setting: the context and the background of the scene.",
         "the place and light are said in every frame, so the background does not drift"),
    Rule("camera",
         "Work out the camera angles and camera movements the scene calls for.",
         "shots, pans and zooms appear; without it the frames read as one fixed view"),
)

NO_CAMERA = "Do not mention cameras, shots, angles or camera movements."

LIFT = (
    "Now raise the frame rate to {fps} fps: split each frame of your previous answer into two "
    "separate image descriptions, so that there are {num_frames} descriptions in all. "
    'Answer in the same format: ["", "", ..., ""].'
)

CORRECT_COUNT = (
    "Your answer has {got} descriptions, but exactly {num_frames} are needed. Write the "
    '{num_frames} descriptions again, as one list in this format: ["", "", ..., ""].'
)

CORRECT_FORMAT = (
    'I could not read a list of descriptions in your answer. Write exactly {num_frames} '
    'descriptions as one list in this format: ["", "", ..., ""].'
)


EXAMPLES_HEADER = "Examples of prompts and their answers:"

EXAMPLE_PROMPTS = (
    "a purple square falls in the desert",
    "an orange ball at the right, later a green triangle appears at the left",
    "a small blue square turns yellow on grass",
)
"""Three worked examples for the shapes world (a motion, a late appearance, a colour change);
none of them is a prompt of the director benchmark (:mod:`direct2v.director.bench`)."""


def worked_examples(prompts, num_frames: int) -> str:
    """Each prompt with the storyboard's answer at ``num_frames`` frames, in the answer format (the captions
    of :meth:`~direct2v.director.StoryboardDirector.direct`, read here from its grammar and story model)."""
    def answer(prompt):
        return json.dumps([caption(scene) for scene in story_scenes(read_story(prompt), num_frames, prompt)])

    return EXAMPLES_HEADER + "".join(f"\nPrompt: {p}\nAnswer: {answer(p)}" for p in prompts)


def format_fps(fps: float) -> str:
    """``1`` for 1.0, ``0.5`` for 0.5: fps as a person writes it."""
    return f"{fps:g}"


def world_vocabulary() -> str:
    """The add-on that tells an LLM which words the miniature shapes model understands.

    Built from :mod:`direct2v.world.world`, so it follows the world if the world grows.
    """
    def words(items):
        return ", ".join(items)

    return (
        "The frames will be drawn by a small model that knows only a few words. Use only these: "
        f"colours {words(world.COLORS)}; shapes {words(world.SHAPES)}; sizes {words(world.SIZES)}; "
        f"rows {words(world.ROWS)}; columns {words(world.COLUMNS)}; "
        f"backgrounds {words(world.BACKGROUNDS)}. Write every description like "
        '"a large red circle at the top left and a small blue square at the bottom right, night '
        'background": one to three objects, each as "a <size> <colour> <shape> at the <row> '
        '<column>", joined by "and", then the background.'
    )


def build_instruction(prompt: str, num_frames: int = 8, fps: float = 1, camera: bool = True,
                      target: str | None = None, rules: tuple[Rule, ...] | None = None,
                      examples: tuple[str, ...] = ()) -> str:
    """The complete first message to the LLM (Fig. 14): task, rules, optional add-ons, prompt.

    ``camera=False`` drops rule 4 and asks for no camera language (Fig. 12, camera constraint).
    ``target="shapes"`` appends :func:`world_vocabulary`. ``rules`` replaces the four rules
    (the book drops them one at a time to show what each does). ``examples``: prompts the
    storyboard can direct, shown with its answers before the prompt (:func:`worked_examples`).
    """
    if target not in (None, "shapes"):
        raise ValueError(f"target={target!r} is not allowed; use None (any text-to-image model) or 'shapes'")
    if isinstance(examples, str) or not all(isinstance(p, str) and p.strip() for p in examples):
        raise ValueError(f"examples={examples!r} is not allowed; give a sequence of prompts (strings)")
    rules = RULES if rules is None else tuple(rules)
    if not camera:
        rules = tuple(r for r in rules if r.name != "camera")
    parts = [TASK.format(num_frames=num_frames, fps=format_fps(fps))]
    if rules:
        parts.append(RULES_HEADER + "\n" + "\n".join(f"{i}. {r.text}" for i, r in enumerate(rules, 1)))
    if not camera:
        parts.append(NO_CAMERA)
    if target == "shapes":
        parts.append(world_vocabulary())
    if examples:
        parts.append(worked_examples(examples, num_frames))
    parts.append(f"Prompt: {prompt}")
    return "\n\n".join(parts)


def lift_request(num_frames: int, fps: float) -> str:
    """The follow-up that doubles the frame rate (Sec. 4.3); ``num_frames``/``fps`` are the new 2F, 2R."""
    return LIFT.format(num_frames=num_frames, fps=format_fps(fps))
