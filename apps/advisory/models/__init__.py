from apps.advisory.models.providers import (
    AdvisorySettings,
    Provider,
    ProviderKind,
    TokenUsage,
)

__all__ = ["AdvisorySettings", "Provider", "ProviderKind", "TokenUsage"]
