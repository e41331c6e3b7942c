"""Shared fixtures: the one factory of offline test models, and the models built with it.

- ``save_model(folder, unet, vae, text_encoder, tokenizer)`` writes any set of components as a pipeline folder
  (PNDM scheduler, the shapes model's ``model_index.json``); every test model is written through it.
- ``tiny_model``: the shapes model's configurations at size "tiny", random weights.
- ``sd_model``: a tiny random pipeline with Stable Diffusion 1.5's layout (:mod:`sd_layout`).
"""
import functools
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel

from direct2v.miniature import model as mini


def recheck_after_raw_sends():
    """Make every notebook client of this test process notice a reply that a send of its own hid.

    jupyter_client's ``Session.send`` writes on a blocking shadow of a ``zmq.asyncio`` socket. The raw
    send runs libzmq's pending commands, which drains the socket's edge-triggered file descriptor; the
    asyncio socket never re-reads ``ZMQ_EVENTS`` after it, so a reply that arrived just before stays
    unnoticed until the wait's timeout, when pyzmq's final ``poll(0)`` finds it. nbclient sends on the
    shell socket while it waits there for the execute reply whenever a cell's output goes to an
    ``Output`` widget (``ipywidgets.interact``): about 1 such cell in 25 then waited its whole timeout
    (600 s in the chapter tests) and passed. Reported upstream as jupyter/jupyter_client#1059 (the
    nbclient case of the shadow send; ipython/ipykernel#1554 is the same drain on the kernel's side).
    The cure here is the asyncio socket's own ``get(EVENTS)`` after each such send, which schedules the
    pending receive. Applied by :func:`pytest_configure`, so to the chapters nbmake runs too.
    """
    import zmq
    import zmq.asyncio
    from jupyter_client.session import Session

    if getattr(Session.send, "rechecks", False):
        return
    send = Session.send

    @functools.wraps(send)
    def send_and_recheck(self, stream, *args, **kwargs):
        sent = send(self, stream, *args, **kwargs)
        if isinstance(stream, zmq.asyncio.Socket) and not stream.closed:
            stream.get(zmq.EVENTS)  # pyzmq's asyncio get: wakes a receive waiting for what is already there
        return sent

    send_and_recheck.rechecks = True
    Session.send = send_and_recheck


def pytest_configure(config):
    recheck_after_raw_sends()


def write_model_folder(folder, unet, vae, text_encoder, tokenizer) -> Path:
    """Save the components, a PNDM scheduler and the model index into ``folder``; return it."""
    folder = Path(folder)
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    text_encoder.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "tokenizer")
    PNDMScheduler(**mini.scheduler_config()).save_pretrained(folder / "scheduler")
    mini.write_model_index(folder)
    return folder


def build_tiny_shapes(folder, seed: int = 0):
    """The shapes model's configurations at size "tiny" with random weights (seeded); returns its CLIP config."""
    torch.manual_seed(seed)
    tok = mini.build_tokenizer()
    config = mini.clip_config(tok, "tiny")
    text = CLIPTextModel(config.text_config)
    unet = UNet2DConditionModel(**mini.unet_config("tiny", cross_attention_dim=text.config.hidden_size))
    write_model_folder(folder, unet, AutoencoderKL(**mini.vae_config("tiny")), text, tok)
    return config


@pytest.fixture(scope="session")
def save_model():
    return write_model_folder


@pytest.fixture(scope="session")
def tiny_shapes():
    return build_tiny_shapes


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The shapes model's configurations at size "tiny", random weights (the shipped weights may be training)."""
    folder = tmp_path_factory.mktemp("tiny")
    build_tiny_shapes(folder)
    return str(folder)


@pytest.fixture(scope="session")
def sd_model(tmp_path_factory):
    """A tiny random pipeline with Stable Diffusion 1.5's layout (512-px images, 768-wide CLIP text)."""
    from sd_layout import build_sd_layout

    return build_sd_layout(tmp_path_factory.mktemp("sd15_layout"))
