"""Every error the runtime raises, split by who is to blame.

    OrchestratorError
    ├── ConfigError                 the person defining the pipeline or its configuration
    │   ├── DefinitionError         an invalid pipeline, stage, role or intent
    │   ├── SkillDefinitionError    a skill the runtime cannot build a schema for
    │   ├── PoolConfigError         a malformed model pool file or an unknown model
    │   ├── ToolGraphError          a tool graph that cannot be planned over
    │   └── StateFileError          a corrupt persisted state file (kept untouched)
    ├── InputError                  bad input at the edge: missing file, unknown run id
    │   └── MemoryItemError         a memory item too large, not UTF-8, or for no known tier
    └── RunError                    a run that could not finish
        ├── GuardViolation          a blocked transition or skill call with no allowed way on
        ├── SkillFailed             a skill raised, or broke its pre/postcondition
        │   ├── PreconditionFailed
        │   ├── PostconditionFailed
        │   ├── ToolTimeout         ... it ran past its timeout_s (also a TimeoutError)
        │   └── ToolRateLimited     ... the service behind it refused for now
        ├── GoalUnreachable         no tool path reaches a stage goal and nothing takes over
        ├── ModelCallError          a model backend failed to answer
        │   └── ModelUnavailable    ... an endpoint fault: HTTP 5xx, timeout, rate limit,
        │                               refused connection, malformed response
        ├── NoEligibleArm           every (role, model) candidate was excluded
        │   └── BudgetExhausted     ... by what is left of the budget
        └── StoreUnavailable        a shared memory store (Redis) cannot be reached

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
    "MemoryItemError",
    "ModelCallError",
    "ModelUnavailable",
    "NoEligibleArm",
    "OrchestratorError",
    "PoolConfigError",
    "PostconditionFailed",
    "PreconditionFailed",
    "RunError",
    "SkillDefinitionError",
    "SkillFailed",
    "StateFileError",
    "StoreUnavailable",
    "ToolGraphError",
    "ToolRateLimited",
    "ToolTimeout",
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


class MemoryItemError(InputError):
    """A memory item that cannot be stored: oversized, not UTF-8, or for an unknown tier."""


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


class ToolTimeout(SkillFailed, TimeoutError):
    """A skill that did not return within its ``timeout_s``; its late result is ignored."""


class ToolRateLimited(SkillFailed):
    """A skill whose service refused the call for now: raise it from a skill on HTTP 429,
    e.g. ``raise ToolRateLimited("quota exceeded", retry_after_s=30)``.

    ``retry_after_s`` says how long the service asked to wait, if it said.
    """

    def __init__(
        self, message: str, *, retry_after_s: float | None = None, skill: str = ""
    ) -> None:
        super().__init__(skill, message)
        self.retry_after_s = retry_after_s


class GoalUnreachable(RunError):
    """No tool path reaches the goal of a stage, and the stage names no escalation stage."""


class ModelCallError(RunError):
    """A model backend raised or returned something unusable."""


class ModelUnavailable(ModelCallError):
    """A model endpoint fault worth failing over from: the call may succeed elsewhere.

    ``kind`` is one of ``http_5xx``, ``timeout``, ``rate_limit``, ``connection``,
    ``malformed``, ``no_record``. ``endpoint_fault`` is False when the endpoint is healthy
    but cannot answer this one request (a replay model without a record for it): the call
    fails over, and the model's circuit breaker is left alone.
    """

    def __init__(self, message: str, *, kind: str, endpoint_fault: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.endpoint_fault = endpoint_fault


class NoEligibleArm(RunError):
    """Every (role, model) candidate of a stage was excluded by a hard constraint."""


class BudgetExhausted(NoEligibleArm):
    """Every candidate model would exceed the remaining budget."""


class StoreUnavailable(RunError):
    """A shared memory store (Redis) that cannot be reached; the in-process store takes
    over and what was written meanwhile is replayed when it is back."""
