"""Training objectives: supervised, noise-level-conditioned, noise2noise, noise2void (blind-spot) and
adversarial (pixel + perceptual + a critic of its own, around supervised or conditioned), each with its config.

A config's ``kind`` selects the objective: ``TrainConfig(objective={"kind": "noise2void", ...})``.
Add one by writing a module with an :class:`ObjectiveConfig` subclass (a literal ``kind`` and a
``build()``), decorated with :func:`register_objective`, and an :class:`Objective`; import it below.
"""

from meddenoise.training.objectives.adversarial import AdversarialConfig, AdversarialObjective
from meddenoise.training.objectives.base import (
    OBJECTIVES,
    Batch,
    Objective,
    ObjectiveConfig,
    TrainableObjective,
    register_objective,
)
from meddenoise.training.objectives.conditioned import ConditionedConfig, ConditionedObjective
from meddenoise.training.objectives.noise2noise import Noise2NoiseConfig, Noise2NoiseObjective
from meddenoise.training.objectives.noise2void import Noise2VoidConfig, Noise2VoidObjective
from meddenoise.training.objectives.supervised import SupervisedConfig, SupervisedObjective

__all__ = [
    "OBJECTIVES",
    "AdversarialConfig",
    "AdversarialObjective",
    "Batch",
    "ConditionedConfig",
    "ConditionedObjective",
    "Noise2NoiseConfig",
    "Noise2NoiseObjective",
    "Noise2VoidConfig",
    "Noise2VoidObjective",
    "Objective",
    "ObjectiveConfig",
    "SupervisedConfig",
    "SupervisedObjective",
    "TrainableObjective",
    "register_objective",
]
