"""contextmatch: ConTeXT-match skill extraction and job-title normalization to ESCO.

The public API: :class:`SkillExtractor` (job ads -> ESCO skills) and :class:`TitleNormalizer` (job titles -> ESCO
occupations). The parts live in subpackages (``skills``, ``titles``, ``evaluation``, ``training``, ``corpus``, ``hub``,
``cli``) around shared modules (``text``, ``esco``, ``cache``, ``inputs``, ``runtime``, ``models``); see
docs/architecture.md.
"""

__version__ = "0.1.0"

from .esco import ATTRIBUTION, DEFAULT_ESCO_VERSION, load_esco  # noqa: E402
from .models import default_model, load_model  # noqa: E402
from .skills.extractor import SkillExtractor  # noqa: E402
from .titles.normalizer import TitleNormalizer  # noqa: E402

__all__ = ["ATTRIBUTION", "DEFAULT_ESCO_VERSION", "SkillExtractor", "TitleNormalizer", "default_model", "load_esco",
           "load_model"]
