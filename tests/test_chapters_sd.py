"""Every chapter's Stable Diffusion path, executed without a GPU (issue 13).

``make test`` runs every chapter once on the miniature (``--nbmake``); this file runs them again with
``MODEL`` pointing at a tiny random pipeline with Stable Diffusion 1.5's layout (512-px frames,
768-wide CLIP text, ``up_blocks.1-3`` cross-attention) recommending 128-px frames (its
``direct2v.json``), at the smallest sizes: the chapters must read sizes from the frames, not assume 64. The director chapter
has no image model and runs once. A second test runs the motion chapter with the pipeline in bfloat16,
so a tensor a cell makes in the wrong dtype (or, on a GPU, on the wrong device) fails here, not in Colab.
"""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SMALLEST = {"DIRECT2V_MODE": "ci", "DIRECT2V_FRAMES": "2", "DIRECT2V_STEPS": "2", "DIRECT2V_VIDEO_FRAMES": "2",
            "DIRECT2V_VIDEO_STEPS": "2", "DIRECT2V_SAMPLES": "2", "DIRECT2V_TRAIN_STEPS": "1",
            "DIRECT2V_LIVE_STEPS": "1", "DIRECT2V_STORIES": "0", "DIRECT2V_METHODS": "self,rvm",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
OVERRIDES = {"query_key_correspondence": {"DIRECT2V_STEPS": "4"}}   # attention is recorded from step 1 on
CHAPTERS = sorted(p.stem for p in BOOK.glob("*.ipynb") if p.stem != "llm_frame_director")


def run_chapter(name, env, monkeypatch, first_cells=()):
    """Execute ``book/<name>.ipynb`` in a fresh kernel with ``env``; ``first_cells`` run after the parameters cell."""
    for key, value in {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells[at:at] = [nbformat.v4.new_code_cell(source) for source in first_cells]
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    return nb


@pytest.fixture(scope="module")
def sd_model_small(tmp_path_factory):
    """The SD-1.5-layout tiny model recommending 128-px frames: the chapters' SD path in seconds per video."""
    from sd_layout import build_sd_layout

    return build_sd_layout(tmp_path_factory.mktemp("sd15_layout_128"), side=128)


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_on_stable_diffusion_layout(name, sd_model_small, monkeypatch):
    sd_model = sd_model_small
    nb = run_chapter(name, {**SMALLEST, **OVERRIDES.get(name, {}), "DIRECT2V_MODEL": sd_model}, monkeypatch,
                     ["assert MODEL == %r, MODEL" % sd_model])
    assert all(o.get("output_type") != "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_motion_chapter_follows_the_pipeline_dtype(monkeypatch):
    """The pipeline in bfloat16 (a GPU's half precision, on the CPU): every tensor must follow it."""
    patch = ("import functools, torch, direct2v.pipeline as _p\n"
             "_p.load_pipeline = functools.partial(_p.load_pipeline, dtype=torch.bfloat16)")
    run_chapter("learning_motion", {**SMALLEST, "DIRECT2V_FRAMES": "8"}, monkeypatch, [patch])


def test_a_send_while_waiting_never_hides_the_reply():
    """The notebook clients' wait for a reply ends when the reply comes, even when a send on the same socket
    (nbclient's Output-widget updates) drained its wake-up first (conftest.recheck_after_raw_sends)."""
    import asyncio
    import time

    import zmq
    import zmq.asyncio
    from jupyter_client.session import Session

    async def wait_for_a_hidden_reply():
        context = zmq.asyncio.Context()
        kernel, client = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
        client.identity = b"client"
        port = kernel.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        session = Session(key=b"")
        session.send(client, "execute_request", {})
        await kernel.recv_multipart()
        waiting = asyncio.ensure_future(client.poll(5000))  # as nbclient waits for the execute reply
        await asyncio.sleep(0.05)
        await kernel.send_multipart([b"client", b"execute_reply"])
        time.sleep(0.1)  # the reply is in the client's socket; the loop has not looked yet
        session.send(client, "comm_msg", {})  # nbclient's widget update: drains the wake-up
        start = time.monotonic()
        ready = await waiting
        context.destroy(linger=0)
        return ready, time.monotonic() - start

    loop = asyncio.new_event_loop()  # not asyncio.run: the notebook clients' loop stays this thread's loop
    try:
        ready, seconds = loop.run_until_complete(wait_for_a_hidden_reply())
    finally:
        loop.close()
    assert ready == zmq.POLLIN and seconds < 1, f"the reply was found after {seconds:.1f} s"
