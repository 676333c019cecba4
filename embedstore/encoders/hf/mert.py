"""MERT, HuBERT and wav2vec 2.0 through the native ``transformers`` models (no ``trust_remote_code``).

MERT's hub code subclasses ``HubertModel`` and breaks on transformers 5, so MERT is loaded into the native
``HubertModel`` (``model_type`` rewritten to ``hubert``). This is exact for both v1 checkpoints: MERTModel builds
the stock ``HubertEncoder`` (95M, post-LN) or ``HubertEncoderStableLayerNorm`` (330M,
``do_stable_layer_norm=True``, ``feat_extract_norm="layer"``), and its feature projection equals HuBERT's when
``feature_extractor_cqt=False``. MERT's own layer is only used with ``deepnorm=True`` (residual scaling, post-LN),
whose ``attention_relax`` merely subtracts the row maximum before the softmax (a no-op); ``deepnorm=True`` and
``feature_extractor_cqt=True`` have no native equivalent and are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.encoders.hf.encoder import TransformersEncoder, register_transformers_encoder
from embedstore.encoders.hf.loading import check_loading_info, read_json
from embedstore.errors import EncoderError

if TYPE_CHECKING:
    import torch

#: ``model_type`` values loaded as ``HubertModel`` / ``Wav2Vec2Model``.
HUBERT_TYPES = ("hubert", "mert_model", "mert")
W2V_TYPES = ("wav2vec2",)


class MertEncoder(TransformersEncoder):
    """MERT (or any HuBERT / wav2vec 2.0 checkpoint) through the native transformers model.

    Input is normalised per window to zero mean and unit variance (``Wav2Vec2FeatureExtractor``
    ``do_normalize=True``) unless ``preprocessor_config.json`` says ``do_normalize: false``. Layers are the
    ``num_hidden_layers + 1`` hidden states (L0 = the projected CNN features), one frame per conv hop
    (320 samples: 75 frames/s at 24 kHz).
    """

    min_window_s = 0.1
    _compilable = True

    def _load(self, model_dir: Path) -> None:
        from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

        cfg = read_json(model_dir / "config.json")
        mtype = cfg.get("model_type", "")
        if cfg.get("deepnorm"):
            raise EncoderError(
                f"{model_dir}: deepnorm=True (scaled residuals) has no native transformers equivalent",
                hint="only MERT checkpoints with deepnorm=false are supported",
            )
        if cfg.get("feature_extractor_cqt"):
            raise EncoderError(
                f"{model_dir}: feature_extractor_cqt=True (CQT input branch) has no native equivalent",
                hint="only MERT checkpoints with feature_extractor_cqt=false are supported",
            )
        for k in ("auto_map", "architectures", "model_type"):
            cfg.pop(k, None)
        config: Any
        cls: Any
        if mtype in W2V_TYPES:
            config, cls = Wav2Vec2Config.from_dict(cfg), Wav2Vec2Model
        else:
            config, cls = HubertConfig.from_dict(cfg), HubertModel
        model, info = cls.from_pretrained(
            str(model_dir), config=config, local_files_only=True, output_loading_info=True
        )
        # masked_spec_embed is only used for SpecAugment during training.
        check_loading_info(info, str(model_dir), ignore=("masked_spec_embed",))
        self.model = model
        pre = read_json(model_dir / "preprocessor_config.json")
        self.do_normalize = bool(pre.get("do_normalize", True))
        self.sample_rate = int(pre.get("sampling_rate") or cfg.get("sample_rate") or 16000)
        hop = int(np.prod(config.conv_stride))
        self.frame_rate = self.sample_rate / hop
        self.dim = int(config.hidden_size)
        self.layer_names = [f"L{i}" for i in range(config.num_hidden_layers + 1)]
        self._hop = hop
        self._kernels = list(zip(config.conv_kernel, config.conv_stride))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        if self.do_normalize:
            x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(
                x.var(dim=1, keepdim=True, unbiased=False) + 1e-7
            )
        out = self.model(self._to_model(x), output_hidden_states=True)
        return torch.stack(out.hidden_states)

    def _n_frames(self, n_samples: int) -> int:
        n = n_samples
        for k, s in self._kernels:
            n = (n - k) // s + 1
        return n

    def params(self) -> dict[str, Any]:
        """Settings that change the output: dtype and per-window normalisation."""
        return {**self._output_params(), "do_normalize": self.do_normalize}


mert_v1_95m = register_transformers_encoder(
    "mert-v1-95m", MertEncoder, "m-a-p/MERT-v1-95M", 24000, 768, 13,
    "MERT-v1-95M music SSL model (native HubertModel), 13 hidden states, 75 frames/s",
)  # fmt: skip
mert_v1_330m = register_transformers_encoder(
    "mert-v1-330m", MertEncoder, "m-a-p/MERT-v1-330M", 24000, 1024, 25,
    "MERT-v1-330M (native HubertModel, pre-LN), 25 hidden states, 75 frames/s",
)  # fmt: skip
