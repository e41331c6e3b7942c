"""Tests of constrained decoding (direct2v.director.constrained) and the director benchmark (bench).

The grammar is checked with llguidance itself, over a byte-level tokenizer built here (every
string is a sequence of its bytes), so no model is needed; the transformers path (generate with
the grammar's logits processor, greedy and sampled, direct and lift) runs on a tiny random
Llama written to a temporary folder. The real SmolLM2-135M runs only in the slow test.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from direct2v.director import DirectorError, StoryboardDirector, parse_frames
from direct2v.director.bench import CHECKS, STORIES, BenchStory, markdown, read_frame, score_frames, summary
from direct2v.director.constrained import (GrammarLogitsProcessor, caption_pattern, frames_grammar,
                                           frames_schema, response_format)

llguidance = pytest.importorskip("llguidance")
GOLDEN = Path(__file__).parent / "data" / "storyboard_golden.json"
MALFORMED = [
    "a red circle at the top left, day background",               # no size
    "a large red ball at the top left, day background",           # a synonym, not the shape
    "a large red circle at the middle left, day background",      # the middle row is "in the middle"
    "a large red circle in the middle center, day background",    # middle center is "in the center"
    "a large red circle at the top left",                         # no background
    "a large pink circle at the top left, day background",        # not a colour of the world
    "a large red circle at the top left, morning background",     # not a background of the world
    "A large red circle at the top left, day background",         # capital
    "a large red circle at the top left, day background.",        # trailing period
    " and ".join(["a small red circle at the top left"] * 4) + ", day background",   # four objects
]


def byte_tokenizer(chat_template: str | None = None):
    """A fast tokenizer whose tokens are the 256 bytes and an end token (id 256)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<eos>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    out = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")
    if chat_template is not None:
        out.chat_template = chat_template
    return out


@pytest.fixture(scope="module")
def tokenizers():
    import llguidance.hf

    hf = byte_tokenizer()
    return hf, llguidance.hf.from_tokenizer(hf)


def accepts(tokenizers, grammar: str, text: str) -> bool:
    """Whether llguidance's matcher for ``grammar`` takes ``text`` whole and may stop after it."""
    hf, ll = tokenizers
    matcher = llguidance.LLMatcher(ll, grammar)
    assert not matcher.is_error(), matcher.get_error()
    ids = hf(text)["input_ids"]
    return matcher.try_consume_tokens(ids) == len(ids) and matcher.is_accepting()


def golden_captions() -> list[str]:
    golden = json.loads(GOLDEN.read_text())
    return sorted({c for record in golden.values() for n in ("3", "8", "16")
                   for c in record[n].get("frames", [])})


# --- the grammar -----------------------------------------------------------------------------
def test_every_storyboard_caption_of_the_golden_record_is_in_the_grammar(tokenizers):
    captions = golden_captions()
    assert len(captions) > 100
    pattern = re.compile(caption_pattern())
    assert all(pattern.fullmatch(c) for c in captions)
    # llguidance's own matcher, over whole replies of 4 frames
    grammar = frames_grammar(4)
    for i in range(0, len(captions) - 3, 4):
        assert accepts(tokenizers, grammar, json.dumps(captions[i:i + 4]))


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_captions_are_not(tokenizers, bad):
    good = "a large red circle at the top left, day background"
    assert not re.fullmatch(caption_pattern(), bad)
    assert not accepts(tokenizers, frames_grammar(2), json.dumps([good, bad]))
    assert accepts(tokenizers, frames_grammar(2), json.dumps([good, good]))


def test_the_grammar_holds_the_frame_count_and_the_list_form(tokenizers):
    frames = ["a small red circle at the top left, day background"] * 6
    for n in (1, 3, 5):
        assert accepts(tokenizers, frames_grammar(n), json.dumps(frames[:n]))
        assert not accepts(tokenizers, frames_grammar(n), json.dumps(frames[:n + 1]))
        assert not accepts(tokenizers, frames_grammar(n + 1), json.dumps(frames[:n]))
    assert not accepts(tokenizers, frames_grammar(2), "\n".join(frames[:2]))           # no list
    assert not accepts(tokenizers, frames_grammar(2), json.dumps(frames[:2]) + " ok")   # text after it
    free = frames_grammar(3, target=None)   # any one-line text per frame, still exactly three
    assert accepts(tokenizers, free, json.dumps(["A corgi runs.", "It stops!", "Another corgi joins"]))
    assert not accepts(tokenizers, free, json.dumps(["A corgi runs.", "It stops!"]))
    assert not accepts(tokenizers, free, json.dumps(["line\nbreak", "b", "c"]))
    with pytest.raises(ValueError, match="num_frames=0"):
        frames_grammar(0)
    with pytest.raises(ValueError, match="target='sd'"):
        frames_grammar(2, target="sd")


def test_json_schema_for_servers():
    schema = frames_schema(3)
    frames = schema["properties"]["frames"]
    assert frames["minItems"] == frames["maxItems"] == 3 and schema["required"] == ["frames"]
    assert re.fullmatch(frames["items"]["pattern"].strip("^$"), golden_captions()[0])
    assert "pattern" not in frames_schema(3, target=None)["properties"]["frames"]["items"]
    assert response_format(3)["json_schema"]["schema"] == schema
    # the reply such a server sends is read by the usual parser
    assert parse_frames(json.dumps({"frames": ["a", "b", "c"]}), 3) == ["a", "b", "c"]


def decode(tokenizers, grammar: str, sample: bool, seed: int, steps: int = 4000) -> str:
    """Generate from random logits under the processor, as generate() would: greedy or sampled."""
    hf, ll = tokenizers
    processor = GrammarLogitsProcessor(ll, grammar)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.tensor([[hf.eos_token_id]])
    for _ in range(steps):
        scores = processor(ids, torch.randn(1, len(hf), generator=gen))
        token = (torch.multinomial(scores.softmax(-1), 1, generator=gen) if sample
                 else scores.argmax(-1, keepdim=True))
        if int(token) == hf.eos_token_id:
            return hf.decode(ids[0, 1:])
        ids = torch.cat([ids, token], 1)
    raise AssertionError("no end token")


@pytest.mark.parametrize("sample", [False, True])
def test_the_processor_makes_any_logits_give_a_grammatical_reply(tokenizers, sample):
    for seed in range(3):
        reply = decode(tokenizers, frames_grammar(3), sample, seed)
        frames = json.loads(reply)
        assert len(frames) == 3 and all(re.fullmatch(caption_pattern(), f) for f in frames)
        assert all(read_frame(f) is not None for f in frames)   # the world's parser reads every one


def test_the_processor_refuses_a_token_outside_the_grammar(tokenizers):
    hf, ll = tokenizers
    processor = GrammarLogitsProcessor(ll, frames_grammar(1))
    scores = processor(torch.tensor([[0]]), torch.zeros(1, len(hf)))
    allowed = torch.isfinite(scores[0])
    assert allowed.sum() == 1 and hf.decode([int(allowed.nonzero())]) == "["
    with pytest.raises(DirectorError, match="left the grammar"):
        processor(torch.tensor([[0] + hf("x")["input_ids"]]), torch.zeros(1, len(hf)))


# --- TransformersDirector, constrained, on a tiny random chat model -------------------------------
TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<assistant>{% endif %}")


@pytest.fixture(scope="module")
def tiny_chat(tmp_path_factory):
    """A one-layer random Llama with the byte tokenizer and a chat template, saved as a folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-chat")
    tok = byte_tokenizer(TEMPLATE)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16384,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id, bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_constrained_is_on_by_default_for_the_shapes_world_only():
    from direct2v.director import TransformersDirector

    assert TransformersDirector("nowhere", target="shapes").constrained is True
    assert TransformersDirector("nowhere").constrained is False
    assert TransformersDirector("nowhere", target="shapes", constrained=False).constrained is False
    assert "constrained=True" in repr(TransformersDirector("nowhere", target="shapes"))
    with pytest.raises(ValueError, match="constrained=1"):
        TransformersDirector("nowhere", constrained=1)
    with pytest.raises(ValueError, match="examples="):
        TransformersDirector("nowhere", examples="a red ball moves")


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_constrained_replies_of_a_random_model_are_grammatical(tiny_chat, temperature):
    """Greedy and sampled: whatever the weights, the reply is exactly F world captions, and repeatable."""
    from direct2v.director import TransformersDirector

    def reply(num_frames):
        director = TransformersDirector(tiny_chat, target="shapes", max_new_tokens=4096, cache=False,
                                        temperature=temperature, seed=3, device="cpu")
        return director._complete([{"role": "user", "content": director.instruction("a red ball", num_frames)}],
                                  num_frames)

    for n in (1, 3):
        text = reply(n)
        frames = json.loads(text)
        assert len(frames) == n and all(re.fullmatch(caption_pattern(), f) for f in frames)
        assert reply(n) == text


def test_constrained_direct_and_lift_on_a_random_model(tiny_chat):
    """Sampled from random weights: F world captions, then 2F on lifting (Sec. 4.3), under the grammar."""
    from direct2v.director import TransformersDirector, lift_request

    director = TransformersDirector(tiny_chat, target="shapes", max_new_tokens=4096, temperature=1.0,
                                    seed=3, cache=False, device="cpu")
    script = director.direct("a red ball moves from left to right", num_frames=2, camera=False)
    assert script.num_frames == 2 and len(script.messages) == 2
    assert all(re.fullmatch(caption_pattern(), f) for f in script.frames)
    assert json.loads(script.reply) == script.frames   # the reply is the list itself, nothing around it
    lifted = director.lift(script)
    assert lifted.num_frames == 4 and lifted.fps == 2
    assert lifted.messages[2] == {"role": "user", "content": lift_request(4, 2)}
    assert all(re.fullmatch(caption_pattern(), f) for f in lifted.frames)


def test_a_reply_cut_off_by_the_budget_is_an_error_not_padded(tiny_chat):
    from direct2v.director import TransformersDirector

    director = TransformersDirector(tiny_chat, target="shapes", max_new_tokens=20, cache=False, device="cpu")
    with pytest.raises(DirectorError, match="did not give 3 usable frames"):
        director.direct("a red ball moves", num_frames=3)


def test_unconstrained_random_model_gives_no_list(tiny_chat):
    from direct2v.director import TransformersDirector

    director = TransformersDirector(tiny_chat, target="shapes", constrained=False, max_new_tokens=40,
                                    cache=False, device="cpu")
    with pytest.raises(DirectorError, match="corrective turn"):
        director.direct("a red ball moves", num_frames=3)


# --- the scoring -----------------------------------------------------------------------------
KNOWN = [s for s in STORIES if s.known]


@pytest.mark.parametrize("num_frames", [4, 8])
def test_the_ground_truth_script_scores_one(num_frames):
    story = StoryboardDirector()
    for s in KNOWN:
        assert score_frames(s, story.direct(s.prompt, num_frames).frames, num_frames) == dict.fromkeys(CHECKS, True), s
        assert score_frames(s, story.lift(story.direct(s.prompt, num_frames)).frames, 2 * num_frames)["story"]


def test_the_prompts_cover_every_kind_in_both_wordings():
    for kind in ("move", "appear", "colour", "background"):
        mine = [s for s in STORIES if s.kind == kind]
        assert sum(s.known for s in mine) >= 1 and sum(not s.known for s in mine) >= 2
    for s in STORIES:   # the storyboard reads exactly the known wordings
        try:
            StoryboardDirector().direct(s.prompt, 4)
        except DirectorError:
            assert not s.known, s.prompt
        else:
            assert s.known, s.prompt


def _failed(checks):
    return {c for c, ok in checks.items() if not ok}


def test_shuffled_and_frozen_scripts_fail_the_event_only():
    story = StoryboardDirector()
    for s in KNOWN:
        frames = story.direct(s.prompt, 6).frames
        assert _failed(score_frames(s, frames[::-1], 6)) == {"event", "story"}, s
        frozen = [frames[0]] * 6
        assert _failed(score_frames(s, frozen, 6)) == {"event", "story"}, s
        late = [frames[-1]] * 6   # frozen at the end: an appearance is there too early
        assert "event" in _failed(score_frames(s, late, 6)), s


def test_each_check_fails_for_its_own_reason():
    move = next(s for s in KNOWN if s.prompt == "a red ball moves from left to right")
    frames = StoryboardDirector().direct(move.prompt, 4).frames
    assert score_frames(move, frames, 4)["story"]
    assert _failed(score_frames(move, None, 4)) == set(CHECKS)                      # no script
    assert _failed(score_frames(move, frames[:3], 4)) == set(CHECKS)                # wrong count
    vague = frames[:3] + ["a red ball rolling on a sunny day"]                     # no size, no place
    assert _failed(score_frames(move, vague, 4)) == set(CHECKS) - {"valid"}
    empty = frames[:3] + ["the sun is shining"]                                    # no object at all
    assert _failed(score_frames(move, empty, 4)) == set(CHECKS)
    overlap = frames[:3] + ["a large red circle in the center and a large blue square in the center, day background"]
    assert _failed(score_frames(move, overlap, 4)) == set(CHECKS) - {"valid"}
    colour = next(s for s in KNOWN if s.prompt == "a green triangle turns purple")
    turns = StoryboardDirector().direct(colour.prompt, 4).frames
    extra = [f.replace(", day", " and a small blue square at the top far right, day") for f in turns]
    assert _failed(score_frames(colour, extra, 4)) == {"objects", "event", "unasked", "story"}
    green = [f.replace("red", "green") for f in frames]
    assert _failed(score_frames(move, green, 4)) == {"objects", "event", "unasked", "story"}
    night = frames[:3] + [frames[3].replace("day", "night")]
    assert _failed(score_frames(move, night, 4)) == {"unasked", "story"}
    grows = frames[:3] + [frames[3].replace("medium", "large")]
    assert _failed(score_frames(move, grows, 4)) == {"unasked", "story"}
    rises = frames[:3] + [frames[3].replace("in the middle", "at the top")]
    assert _failed(score_frames(move, rises, 4)) == {"unasked", "story"}


def test_a_bystander_that_moves_is_a_change_not_asked_for():
    appear = BenchStory("appear", "x", True, "square", "red", others=(("green", "circle"),))
    frames = ["a medium green circle at the bottom left, day background",
              "a medium green circle at the bottom left, day background",
              "a medium green circle at the bottom left and a medium red square at the top right, day background",
              "a medium green circle at the bottom left and a medium red square at the top right, day background"]
    assert score_frames(appear, frames, 4)["story"]
    early = [frames[2]] + frames[1:]
    assert _failed(score_frames(appear, early, 4)) == {"event", "story"}
    gone = frames[:3] + [frames[1]]
    assert _failed(score_frames(appear, gone, 4)) == {"event", "story"}
    moved = frames[:3] + [frames[3].replace("circle at the bottom left", "circle at the bottom center")]
    assert _failed(score_frames(appear, moved, 4)) == {"unasked", "story"}


def test_the_summary_reports_kinds_checks_and_intervals():
    story = StoryboardDirector()
    records = []
    for s in STORIES:
        try:
            frames = story.direct(s.prompt, 4).frames
        except DirectorError:
            frames = None
        records.append({"director": "storyboard", "kind": s.kind, "known": s.known, "num_frames": 4,
                        "seconds": 0.01, **score_frames(s, frames, 4)})
    (row,) = summary(records)
    assert row["known wording"] == "1.00 [1.00, 1.00]" and row["new wording"] == "0.00 [0.00, 0.00]"
    assert row["story"].startswith("0.33 [") and row["move"].startswith("0.33 [")
    table = markdown([row])
    assert table.count("\n") == 3 and "| storyboard | 4 | 12 |" in table


def test_the_committed_table_is_that_of_its_records():
    folder = Path(__file__).parents[1] / "direct2v" / "data" / "director-bench"
    data = json.loads((folder / "records.json").read_text())
    assert data["command"].startswith("python -m direct2v.director.bench")
    assert markdown(summary(data["records"])) in (folder / "table.md").read_text()
    for r in data["records"]:   # every record's checks are those of its frames
        story = next(s for s in STORIES if s.prompt == r["prompt"])
        assert {c: r[c] for c in CHECKS} == score_frames(story, r["frames"], r["num_frames"]), r["director"]
    storyboard = [r for r in data["records"] if r["director"] == "storyboard"]
    assert all(r["story"] == r["known"] for r in storyboard)


@pytest.mark.slow   # the real SmolLM2-135M: ~40 s on 2 CPU cores
def test_constrained_smollm2_writes_world_captions():
    from direct2v.director.bench import make_director
    from direct2v.director.instruction import EXAMPLE_PROMPTS

    director, free = make_director("smollm2-examples", 4), make_director("smollm2-free", 4)
    assert director.constrained and director.examples == EXAMPLE_PROMPTS and not free.constrained
    assert director._model is free._model   # one model for every row
    story = next(s for s in STORIES if s.prompt.startswith("a purple box sits"))
    script = director.direct(story.prompt, num_frames=4, camera=False)
    assert len(script.frames) == 4 and all(re.fullmatch(caption_pattern(), f) for f in script.frames)
    assert score_frames(story, script.frames, 4)["valid"]   # the form is there, whatever the story
    assert all(read_frame(f) is not None for f in script.frames)


def test_the_command_writes_records_and_table_and_skips_openai_without_a_key(tmp_path, monkeypatch, capsys):
    from direct2v.director.bench import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["--directors", "storyboard,openai", "--frames", "3", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "records.json").read_text())
    assert data["skipped"] == ["openai"] and data["num_frames"] == 3
    assert data["command"] == "python -m direct2v.director.bench --directors storyboard,openai --frames 3 --out " + str(tmp_path)
    assert {r["director"] for r in data["records"]} == {"storyboard", "storyboard+lift"}
    table = (tmp_path / "table.md").read_text()
    assert "| storyboard | 3 | 12 |" in table and "| storyboard+lift | 6 | 12 |" in table
    for bad in (["--directors", "gpt5"], ["--frames", "1"], ["--directors", "openai"]):
        with pytest.raises(SystemExit):
            main(bad + ["--out", str(tmp_path / "never")])
    assert not (tmp_path / "never").exists()
