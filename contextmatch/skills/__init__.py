"""Skill extraction: job-ad sentences -> ranked ESCO skills -> the reported set, with evidence.

``extractor`` (:class:`~contextmatch.skills.extractor.SkillExtractor`, the pipeline), ``quantize`` and
``onnx_runtime`` (how the sentence encoder runs), ``gate`` (does a sentence state a skill at all), ``labels`` (every
label of a skill on the skill side), ``topk`` (exact top-k through a cosine bound), ``two_stage`` (label spaces far
larger than ESCO), ``selection`` (which skills are reported and which name the same thing), ``evidence`` (the words
that carry a skill), ``results`` (what extraction returns) and ``render`` (table, JSON, JSONL and CSV output).

May import the shared top-level modules (text, esco, cache, inputs, runtime, models) and the remote code
(modeling_contextmatch); nothing from the other subpackages.
"""
