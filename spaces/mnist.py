"""The seed's MNIST network (NNI v1's classic-NAS MNIST example) as a search space.

conv1 is a 3x3 or 5x5 LayerChoice; a skip InputChoice adds conv2's output after conv3.
The seed's literal 5x5 candidate, ``Conv2d(1, 32, 5, 3)``, gives 8x8 maps that do not fit
``fc1``'s 9216 inputs; here it has stride 1 and padding 1, so both candidates give 26x26
and every genome trains. Size: 2 x 2 = 4 genomes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from raynas.core.mutables import InputChoice, LayerChoice
from raynas.spaces import register_space


class MnistNet(nn.Module):
    """Input 1x28x28, 10 logits."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = LayerChoice([nn.Conv2d(1, 32, 3, 1), nn.Conv2d(1, 32, 5, 1, padding=1)])
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.conv3 = nn.Conv2d(64, 64, 1, 1)
        self.skipcon = InputChoice(n_candidates=1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(self.conv2(x), 2)
        x0 = self.skipcon([x])
        x = self.conv3(x)
        if x0 is not None:
            x = x + x0
        x = self.dropout1(F.relu(x))
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)


@register_space("mnist")
def mnist() -> nn.Module:
    """The seed's MNIST net with both conv1 candidates fitting fc1."""
    return MnistNet()
