# app.py launches a Gradio server at import time; keep pytest (e.g. --doctest-modules) from importing it.
collect_ignore = ["app.py"]
