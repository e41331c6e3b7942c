"""IPython start-up file of the kernels that execute the book (`make book`, `make check-book`).

In a kernel, tqdm.auto draws its progress bars as ipywidgets ("Loading weights", "train unet", ...);
the rendered book has no kernel, so they became empty widget areas. Plain text bars go to stderr,
which the book leaves out (`execute.stderr_output: remove`). The Makefile installs this file as
$(IPYTHONDIR)/profile_default/startup/00-plain-progress.py for book builds only.
"""
import tqdm.auto
import tqdm.std

tqdm.auto.tqdm = tqdm.std.tqdm
try:
    import tqdm.autonotebook

    tqdm.autonotebook.tqdm = tqdm.std.tqdm
except ImportError:
    pass
