"""The embedded miniature model: its making and its judging (one floor above the world and the pipeline).

``model`` (the parts' configurations, ``WEIGHTS``, ``GUIDANCE``), ``train`` (``python -m
direct2v.miniature.train``), ``grounding`` (the token-grounding heads), ``quality`` (the quality bars,
``python -m direct2v.miniature.quality``), ``stage`` (does the model show what the stage needs),
``card`` (the model card) and ``recipe`` (the whole training as one command for a GPU); ``weights/``
is the shipped folder. Import the modules by their full name; nothing is imported here, so
``import direct2v.miniature`` stays light.
"""
