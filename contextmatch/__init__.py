"""contextmatch: ConTeXT-match skill extraction and job-title normalization to ESCO."""

__version__ = "0.1.0"

from .esco import ATTRIBUTION, DEFAULT_ESCO_VERSION, load_esco  # noqa: E402
from .models import default_model, load_model  # noqa: E402
from .skills.extractor import SkillExtractor  # noqa: E402

__all__ = ["ATTRIBUTION", "DEFAULT_ESCO_VERSION", "SkillExtractor", "default_model", "load_esco", "load_model"]
