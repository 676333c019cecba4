"""Frame-level models: a linear frame probe (the baseline) and a multi-scale CNN + multi-gate mixture-of-experts.

Both map standardised frame features ``x`` of shape ``(batch, n_frames, in_dim)`` to per-frame logits of four tasks
(:data:`TASKS`): ``dynamics`` ``(batch, n_frames, 6)`` (pp..ff), and ``change`` / ``beat`` / ``downbeat``
``(batch, n_frames)`` (one logit each). Input standardisation (per-dimension mean and standard deviation of the
training frames) lives in the model's buffers, so a saved model carries it.

``msn-mmoe``, written from the published description of the 2025 multi-task BSSL network (not from its code):

- **multi-scale CNN backbone**, two time scales: a fine stem at the frame rate (50 frames/s: a kernel-3
  convolution to ``stem`` channels, which keeps onset timing to one frame) and a coarse path at 1/``downsample``
  of it (12.5 frames/s: a strided convolution to ``channels``, then ``n_blocks`` residual multi-scale blocks;
  each block runs three parallel kernel-3 convolutions with dilations ``d, 2d, 4d`` (``d`` from
  :data:`DILATIONS`), concatenates them and mixes them with a 1x1 convolution, batch norm, ReLU, dropout). The
  coarse path sees about 10 s (several bars) and holds most parameters while costing a quarter of the compute per
  parameter, which keeps the model trainable on a CPU;
- **8-d shared latent** per frame: a 1x1 projection of the coarse path (upsampled to the frame rate) plus a 1x1
  projection of the stem;
- **multi-gate mixture of experts (MMoE)**: ``n_experts`` (8) small temporal CNN experts (kernel 3, dilations 1,
  2, 4) read the latent; one softmax gate per task (4 gates) weighs the experts per frame from the latent;
- **four heads**: a two-layer 1x1 CNN per task on its gated expert mixture (6 dynamics classes, change point,
  beat, downbeat).

With BSSL input (23 bands) and the defaults it has about 0.48 M parameters (:func:`count_parameters`).

``linear``: per task, one linear map of the features of ``context`` neighbouring frames (a 1-D convolution with
kernel ``context``, default 3, so onsets are visible as frame differences); ``hidden > 0`` adds one hidden layer.
The four heads share nothing, so the joint loss is the sum of four independent per-task probes.

``tcn``: a temporal convolutional network in the manner of the TCN beat trackers (Davies & Böck 2019, from the
published description): a 1x1 input projection to ``channels`` (16), then ``n_blocks`` (8) residual blocks, each a
non-causal kernel-5 convolution with dilation ``2**i`` (1 ... 128 frames), ELU and dropout, so each frame sees +-510
frames, +-10.2 s at 50 frames/s (bars, not only onsets), and one 1x1 head per task on the shared sequence. About 11 k
parameters with madmom+bssl input: small enough to train on hours of audio on a CPU.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from embedstore.errors import ConfigError, check_choice

#: Task names and their number of outputs.
TASKS = {"dynamics": 6, "change": 1, "beat": 1, "downbeat": 1}
MODEL_KINDS = ("msn-mmoe", "linear", "tcn")
#: Base dilation of each coarse-path block (its branches use d, 2d, 4d).
DILATIONS = (1, 2, 4, 8, 1)


class _Standardise(nn.Module):
    def __init__(self, in_dim: int):
        super().__init__()
        self.register_buffer("feat_mean", torch.zeros(in_dim))
        self.register_buffer("feat_std", torch.ones(in_dim))

    def set_stats(self, mean, std) -> None:
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.clamp(torch.as_tensor(std, dtype=torch.float32), min=1e-4))

    def forward(self, x):  # (B, T, D) -> (B, D, T)
        return ((x - self.feat_mean) / self.feat_std).transpose(1, 2)


class FrameModel(nn.Module):
    """Base: ``forward(x (B, T, D)) -> {task: logits}``; ``set_input_stats`` stores the standardisation."""

    kind = ""

    def __init__(self, in_dim: int):
        super().__init__()
        self.in_dim = int(in_dim)
        self.norm = _Standardise(self.in_dim)

    def set_input_stats(self, mean, std) -> None:
        self.norm.set_stats(mean, std)

    def hparams(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError


class LinearFrameProbe(FrameModel):
    """Per-task linear (``hidden=0``) or one-hidden-layer frame probe over ``context`` frames."""

    kind = "linear"

    def __init__(self, in_dim: int, *, context: int = 3, hidden: int = 0):
        super().__init__(in_dim)
        self.context = int(context)
        self.hidden = int(hidden)
        pad = self.context // 2
        heads = {}
        for task, n_out in TASKS.items():
            if self.hidden > 0:
                heads[task] = nn.Sequential(
                    nn.Conv1d(in_dim, self.hidden, self.context, padding=pad),
                    nn.ReLU(),
                    nn.Conv1d(self.hidden, n_out, 1),
                )
            else:
                heads[task] = nn.Conv1d(in_dim, n_out, self.context, padding=pad)
        self.heads = nn.ModuleDict(heads)

    def hparams(self) -> dict:
        return {"context": self.context, "hidden": self.hidden}

    def forward(self, x):
        z = self.norm(x)
        return _outputs({t: h(z) for t, h in self.heads.items()}, x.shape[1])


class _MultiScaleBlock(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, padding=d, dilation=d)
            for d in (dilation, 2 * dilation, 4 * dilation)
        )
        self.mix = nn.Conv1d(3 * channels, channels, 1)
        self.bn = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        y = torch.cat([torch.relu(b(x)) for b in self.branches], dim=1)
        return x + self.drop(torch.relu(self.bn(self.mix(y))))


class _Experts(nn.Module):
    """``n`` independent temporal CNN experts run as one grouped convolution stack (same maths, fewer calls).

    Input ``(B, latent_dim, T)``, output ``(B, n, width, T)``.
    """

    def __init__(self, latent_dim: int, width: int, n: int):
        super().__init__()
        self.n, self.width = n, width
        self.net = nn.Sequential(
            nn.Conv1d(latent_dim, n * width, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(n * width, n * width, 3, padding=2, dilation=2, groups=n),
            nn.ReLU(),
            nn.Conv1d(n * width, n * width, 3, padding=4, dilation=4, groups=n),
            nn.ReLU(),
        )

    def forward(self, z):
        y = self.net(z)
        return y.view(y.shape[0], self.n, self.width, y.shape[-1])


class MSNMMoE(FrameModel):
    """Multi-scale CNN backbone -> 8-d shared latent -> MMoE (8 experts, one gate per task) -> four heads.

    Parameters
    ----------
    in_dim : int
        Feature size (23 for BSSL, 128 for log-mel).
    stem : int
        Width of the frame-rate stem.
    channels : int
        Width of the coarse path.
    n_blocks : int
        Multi-scale blocks in the coarse path (at most ``len(DILATIONS)``).
    downsample : int
        Time reduction of the coarse path.
    latent_dim : int
        Size of the shared per-frame latent.
    n_experts : int
    expert_dim : int
        Width of each expert.
    dropout : float
    """

    kind = "msn-mmoe"

    def __init__(
        self,
        in_dim: int,
        *,
        stem: int = 32,
        channels: int = 96,
        n_blocks: int = 4,
        downsample: int = 4,
        latent_dim: int = 8,
        n_experts: int = 8,
        expert_dim: int = 16,
        dropout: float = 0.1,
    ):
        super().__init__(in_dim)
        if not 1 <= n_blocks <= len(DILATIONS):
            raise ConfigError(f"invalid n_blocks={n_blocks!r}; must be 1..{len(DILATIONS)}")
        if downsample < 1:
            raise ConfigError(f"invalid downsample={downsample!r}; must be >= 1")
        self.stem_dim, self.channels, self.n_blocks = int(stem), int(channels), int(n_blocks)
        self.downsample, self.latent_dim, self.n_experts = int(downsample), int(latent_dim), int(n_experts)
        self.expert_dim, self.dropout = int(expert_dim), float(dropout)
        self.stem = nn.Sequential(nn.Conv1d(in_dim, stem, 3, padding=1), nn.BatchNorm1d(stem), nn.ReLU())
        self.down = nn.Sequential(
            nn.Conv1d(stem, channels, downsample, stride=downsample), nn.BatchNorm1d(channels), nn.ReLU()
        )
        self.blocks = nn.Sequential(*[_MultiScaleBlock(channels, d, dropout) for d in DILATIONS[:n_blocks]])
        self.latent_coarse = nn.Conv1d(channels, latent_dim, 1)
        self.latent_fine = nn.Conv1d(stem, latent_dim, 1)
        self.experts = _Experts(latent_dim, expert_dim, n_experts)
        self.gates = nn.ModuleDict({t: nn.Conv1d(latent_dim, n_experts, 1) for t in TASKS})
        self.heads = nn.ModuleDict(
            {
                t: nn.Sequential(
                    nn.Conv1d(expert_dim, expert_dim, 1), nn.ReLU(), nn.Conv1d(expert_dim, n_out, 1)
                )
                for t, n_out in TASKS.items()
            }
        )

    def hparams(self) -> dict:
        return {
            "stem": self.stem_dim,
            "channels": self.channels,
            "n_blocks": self.n_blocks,
            "downsample": self.downsample,
            "latent_dim": self.latent_dim,
            "n_experts": self.n_experts,
            "expert_dim": self.expert_dim,
            "dropout": self.dropout,
        }

    def shared_latent(self, x):
        """The shared per-frame latent, shape (B, latent_dim, T)."""
        n = x.shape[1]
        fine = self.stem(self.norm(x))  # (B, S, T)
        pad = (-n) % self.downsample
        coarse = self.blocks(self.down(nn.functional.pad(fine, (0, pad))))  # (B, C, ceil(T / ds))
        up = torch.repeat_interleave(self.latent_coarse(coarse), self.downsample, dim=2)[..., :n]
        return up + self.latent_fine(fine)

    def forward(self, x):
        z = self.shared_latent(x)
        e = self.experts(z)  # (B, E, H, T)
        out = {}
        for t in TASKS:
            g = torch.softmax(self.gates[t](z), dim=1)  # (B, E, T)
            mix = (e * g.unsqueeze(2)).sum(dim=1)  # (B, H, T)
            out[t] = self.heads[t](mix)
        return _outputs(out, x.shape[1])


class _TCNBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.drop(nn.functional.elu(self.conv(x)))


class TCNFrameModel(FrameModel):
    """Dilated residual TCN shared by the four task heads.

    Parameters
    ----------
    in_dim : int
    channels : int
        Width of every block.
    n_blocks : int
        Residual blocks; block ``i`` has dilation ``2**i``.
    kernel : int
        Odd kernel size of the dilated convolutions.
    dropout : float
    """

    kind = "tcn"

    def __init__(
        self, in_dim: int, *, channels: int = 16, n_blocks: int = 8, kernel: int = 5, dropout: float = 0.1
    ):
        super().__init__(in_dim)
        if kernel < 1 or kernel % 2 == 0:
            raise ConfigError(f"invalid kernel={kernel!r}; must be odd and >= 1")
        if not 1 <= n_blocks <= 12:
            raise ConfigError(f"invalid n_blocks={n_blocks!r}; must be 1..12")
        self.channels, self.n_blocks, self.kernel, self.dropout = (
            int(channels),
            int(n_blocks),
            int(kernel),
            float(dropout),
        )
        self.inp = nn.Conv1d(in_dim, channels, 1)
        self.blocks = nn.Sequential(*[_TCNBlock(channels, kernel, 2**i, dropout) for i in range(n_blocks)])
        self.heads = nn.ModuleDict({t: nn.Conv1d(channels, n_out, 1) for t, n_out in TASKS.items()})

    def hparams(self) -> dict:
        return {
            "channels": self.channels,
            "n_blocks": self.n_blocks,
            "kernel": self.kernel,
            "dropout": self.dropout,
        }

    def forward(self, x):
        z = self.blocks(nn.functional.elu(self.inp(self.norm(x))))
        return _outputs({t: h(z) for t, h in self.heads.items()}, x.shape[1])


def _outputs(raw: dict, n_frames: int) -> dict:
    """(B, C, T) -> dynamics (B, T, 6), the others (B, T)."""
    out = {}
    for t, y in raw.items():
        y = y[..., :n_frames]
        out[t] = y.transpose(1, 2) if TASKS[t] > 1 else y[:, 0]
    return out


def build_model(kind: Literal["msn-mmoe", "linear", "tcn"], in_dim: int, **hparams) -> FrameModel:
    """Build a frame model by name (``msn-mmoe``, ``linear`` or ``tcn``) with its hyper-parameters."""
    check_choice("model", kind, MODEL_KINDS)
    cls = {"msn-mmoe": MSNMMoE, "linear": LinearFrameProbe, "tcn": TCNFrameModel}[kind]
    return cls(int(in_dim), **hparams)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
