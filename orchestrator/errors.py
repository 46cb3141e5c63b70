"""Every error the runtime raises, split by who is to blame.

    OrchestratorError
    ├── ConfigError                 the person defining the pipeline or its configuration
    │   ├── DefinitionError         an invalid pipeline, stage, role or intent
    │   ├── SkillDefinitionError    a skill the runtime cannot build a schema for
    │   ├── PoolConfigError         a malformed model pool file or an unknown model
    │   ├── ToolGraphError          a tool graph that cannot be planned over
    │   └── StateFileError          a corrupt persisted state file (kept untouched)
    ├── InputError                  bad input at the edge: missing file, unknown run id
    └── RunError                    a run that could not finish
        ├── GuardViolation          a blocked transition or skill call with no allowed way on
        ├── SkillFailed             a skill raised, or broke its pre/postcondition
        │   ├── PreconditionFailed
        │   └── PostconditionFailed
        ├── GoalUnreachable         no tool path reaches a stage goal and nothing takes over
        ├── ModelCallError          a model backend failed to answer
        └── NoEligibleArm           every (role, model) candidate was excluded
            └── BudgetExhausted     ... by what is left of the budget

Messages say what went wrong, where, and how to fix it. Errors never log.
"""

from __future__ import annotations

__all__ = [
    "BudgetExhausted",
    "ConfigError",
    "DefinitionError",
    "GoalUnreachable",
    "GuardViolation",
    "InputError",
    "ModelCallError",
    "NoEligibleArm",
    "OrchestratorError",
    "PoolConfigError",
    "PostconditionFailed",
    "PreconditionFailed",
    "RunError",
    "SkillDefinitionError",
    "SkillFailed",
    "StateFileError",
    "ToolGraphError",
]


class OrchestratorError(Exception):
    """Base of every error raised by the runtime."""


class ConfigError(OrchestratorError):
    """A mistake in what the user defined or configured; fix the definition and rerun."""


class DefinitionError(ConfigError):
    """An invalid pipeline definition (stages, roles, intents)."""


class SkillDefinitionError(ConfigError):
    """A function that cannot become a skill (missing type hints or docstring)."""


class PoolConfigError(ConfigError):
    """A malformed model pool, or a role naming a model the pool does not have."""


class ToolGraphError(ConfigError):
    """A tool graph that cannot be planned over."""


class StateFileError(ConfigError):
    """A persisted state file that cannot be read; the file is left as it is."""


class InputError(OrchestratorError):
    """Bad input at the edge: a missing file, a file without a pipeline, an unknown run id."""


class RunError(OrchestratorError):
    """A run that could not finish."""


class GuardViolation(RunError):
    """A forbidden transition or skill call for which no allowed alternative exists."""


class SkillFailed(RunError):
    """A skill call that raised or broke its contract."""

    def __init__(self, skill: str, message: str) -> None:
        super().__init__(f"skill {skill!r}: {message}")
        self.skill = skill
        self.detail = message


class PreconditionFailed(SkillFailed):
    """A skill's `requires` check rejected its arguments; the skill did not run."""


class PostconditionFailed(SkillFailed):
    """A skill's `ensures` check rejected its result; the result is discarded."""


class GoalUnreachable(RunError):
    """No tool path reaches the goal of a stage, and the stage names no escalation stage."""


class ModelCallError(RunError):
    """A model backend raised or returned something unusable."""


class NoEligibleArm(RunError):
    """Every (role, model) candidate of a stage was excluded by a hard constraint."""


class BudgetExhausted(NoEligibleArm):
    """Every candidate model would exceed the remaining budget."""
