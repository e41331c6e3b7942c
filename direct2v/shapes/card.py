"""Deprecated: moved to :mod:`direct2v.miniature.card` (see :mod:`direct2v.shapes`)."""
from direct2v.shapes import redirect

redirect(__spec__.name, __name__)
