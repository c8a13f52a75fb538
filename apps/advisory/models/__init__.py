from apps.advisory.models.advice import (
    Advice,
    AdviceAnswer,
    AdviceFeedback,
    AdviceResult,
    AdviceStatus,
    AdviceTask,
    Verdict,
)
from apps.advisory.models.providers import (
    AdvisorySettings,
    Provider,
    ProviderKind,
    TokenUsage,
)

__all__ = [
    "Advice",
    "AdviceAnswer",
    "AdviceFeedback",
    "AdviceResult",
    "AdviceStatus",
    "AdviceTask",
    "AdvisorySettings",
    "Provider",
    "ProviderKind",
    "TokenUsage",
    "Verdict",
]
