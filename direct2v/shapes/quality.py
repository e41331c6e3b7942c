"""Deprecated: moved to :mod:`direct2v.miniature.quality` (see :mod:`direct2v.shapes`)."""
from direct2v.shapes import redirect

redirect(__spec__.name, __name__)
