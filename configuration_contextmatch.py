"""Configuration of ConTeXT-match (remote code: depends only on transformers).

ConTeXT-match wraps a transformer encoder (BERT, MPNet, ...). The encoder's own configuration is stored,
as a plain dictionary, under ``encoder``, so one ``config.json`` describes the whole model.

Special-token policy (training and inference alike, set by ``attend_special_tokens``): when true, every
non-padding token, CLS and SEP included, takes part in the sentence attention; when false, the first and the
last real token (CLS and SEP) are left out of it. Special tokens cover no characters, so they never appear as
evidence.
"""

from transformers import AutoConfig, PretrainedConfig


class ContextMatchConfig(PretrainedConfig):
    """Settings of a ConTeXT-match model.

    Args:
        encoder: the encoder's configuration as a dict (``encoder_config.to_dict()``), must hold ``model_type``.
        attn_temperature: softmax temperature T of the token attention (``a_j / T``).
        pooling: how a skill label becomes one vector; only ``"mean"`` (over non-padding tokens) is supported.
        max_sentence_length: most tokens per sentence window (longer sentences are split into windows).
        max_skill_length: most tokens per skill label.
        score_threshold: default score below which a skill is not reported by the extraction pipeline.
        esco_version: ESCO version the model was trained or tuned for.
        attend_special_tokens: whether CLS and SEP take part in the sentence attention.
        encoder_folder: subfolder that holds the encoder as a plain transformers folder (its weights, the only
            copy), as ``contextmatch export`` writes it; ``None``: the weights are in this folder's model file.
        score_margin: the extraction pipeline keeps a skill only within this distance of its sentence's best score.
        gate_weights, gate_bias: the relevance gate, a logistic regression on the unit mean-pooled sentence vector
            (``None``: no gate); gate_threshold: the least relevance of a sentence that reports skills.
        gate_context: the gate's second step, which reads the ad around the sentence: weights of the seven
            features of ``modeling_contextmatch.context_features``, then the bias (``None``: the first step alone).
        selection_weights, selection_cutoff: the calibrated selection (weights of the pair features, then the bias;
            ``None``: the threshold and margin alone) and the least calibrated probability of a reported skill;
            selection_trees: gradient-boosted trees over the same features that replace the weights when set
            (``contextmatch.skills.selection.Forest``).
        group_similarity: skills whose label vectors have at least this cosine are reported as one group;
            group_relations: whether ESCO broader/narrower pairs are one group too.
    """

    model_type = "contextmatch"

    def __init__(
        self,
        encoder=None,
        attn_temperature=1.0,
        pooling="mean",
        max_sentence_length=128,
        max_skill_length=64,
        score_threshold=0.5,
        esco_version="1.1.0",
        attend_special_tokens=True,
        encoder_folder=None,
        score_margin=2.0,
        gate_weights=None,
        gate_bias=0.0,
        gate_threshold=None,
        gate_context=None,
        selection_weights=None,
        selection_cutoff=0.5,
        selection_trees=None,
        group_similarity=None,
        group_relations=True,
        **kwargs,
    ):
        if isinstance(encoder, PretrainedConfig):
            encoder = encoder.to_dict()
        if pooling != "mean":
            raise ValueError(f"pooling must be 'mean', got {pooling!r}")
        if attn_temperature <= 0:
            raise ValueError(f"attn_temperature must be > 0, got {attn_temperature}")
        # a nested _name_or_path is a path on the machine that built the model: never stored
        self.encoder = {k: v for k, v in dict(encoder or {}).items() if k != "_name_or_path"}
        self.encoder_folder = encoder_folder
        self.attn_temperature = float(attn_temperature)
        self.pooling = pooling
        self.max_sentence_length = int(max_sentence_length)
        self.max_skill_length = int(max_skill_length)
        self.score_threshold = float(score_threshold)
        self.esco_version = str(esco_version)
        self.attend_special_tokens = bool(attend_special_tokens)
        self.score_margin = float(score_margin)
        self.gate_weights = None if gate_weights is None else [float(w) for w in gate_weights]
        self.gate_bias = float(gate_bias)
        self.gate_threshold = None if gate_threshold is None else float(gate_threshold)
        self.gate_context = None if gate_context is None else [float(w) for w in gate_context]
        self.selection_weights = None if selection_weights is None else [float(w) for w in selection_weights]
        self.selection_cutoff = float(selection_cutoff)
        self.selection_trees = selection_trees
        self.group_similarity = None if group_similarity is None else float(group_similarity)
        self.group_relations = bool(group_relations)
        super().__init__(**kwargs)

    def encoder_config(self):
        """The nested encoder configuration as a transformers config object."""
        settings = dict(self.encoder)
        model_type = settings.pop("model_type", None)
        if model_type is None:
            raise ValueError("ContextMatchConfig.encoder needs a 'model_type' (e.g. 'bert' or 'mpnet')")
        return AutoConfig.for_model(model_type, **settings)
