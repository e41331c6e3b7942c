"""``python -m direct2v.evaluate`` (:func:`direct2v.evaluate.command.main`)."""
from .command import main

main()
