"""The ``contextmatch`` command line: ``main`` (the parser and error handling), ``options`` (shared options) and one
module per command, each with ``register(commands)``: ``extract``, ``export``, ``evaluate``, ``train``
(``build-training-data``, ``train``), ``titles`` (``normalize``, ``train-titles``), ``batch`` and ``release``
(``release``, ``publish``).

The only package that may import all the others; the library never imports it.
"""
