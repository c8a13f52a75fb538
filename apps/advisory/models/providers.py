"""Model providers of a tenant, the tenant's advisory settings and daily token usage.

A provider's API key is encrypted with the platform keyring (as integrations' credentials are)
and never returned. Usage is one row per provider per UTC day: the budget check reads it before
a call and the call adds to it after.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned
from fixops.platform import keyring
from fixops.platform.models.breaker import BreakerFields


class ProviderKind(models.TextChoices):
    # OpenAI Chat Completions and everything that speaks it: Azure OpenAI, vLLM, Ollama,
    # llama.cpp's server.
    OPENAI = "openai", "OpenAI-compatible Chat Completions"
    ANTHROPIC = "anthropic", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini generateContent"


class Provider(TenantOwned, BreakerFields):
    """One model endpoint a tenant asks for advice, with its circuit breaker's state (on this
    row so every worker shares it; fixops/platform/http/breaker.py)."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500)
    model = models.CharField(max_length=200)
    # MultiFernet token of the API key; write-only (never shown, never returned by the API).
    api_key_token = models.BinaryField(editable=False, default=b"")
    weight = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    timeout = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(600)], help_text="seconds"
    )
    daily_token_budget = models.PositiveBigIntegerField(
        default=200_000, help_text="Tokens (in + out) per UTC day; 0 = no budget."
    )
    price_in_per_1k = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), help_text="Cost per 1k input tokens"
    )
    price_out_per_1k = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), help_text="Cost per 1k output tokens"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="provider_tenant_name_uniq")
        ]
        indexes = [models.Index(fields=["tenant", "enabled"], name="provider_tenant_enabled_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.model})"

    @property
    def api_key(self) -> str:
        if not self.api_key_token:
            return ""
        return keyring.decrypt(bytes(self.api_key_token)).decode()

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.api_key_token = keyring.encrypt(value.encode()) if value else b""


class AdvisorySettings(TenantOwned):
    """A tenant's advisory switch: off until an admin turns it on and accepts the data-sharing
    notice (what leaves for the providers: redacted finding and decision text)."""

    enabled = models.BooleanField(default=False)
    consensus_threshold = models.FloatField(
        default=0.85, validators=[MinValueValidator(0.5), MaxValueValidator(1.0)]
    )
    data_sharing_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    data_sharing_accepted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "advisory settings"
        verbose_name_plural = "advisory settings"
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="advisory_settings_tenant_uniq")
        ]

    def __str__(self) -> str:
        return f"advisory settings of tenant {self.tenant_id}"

    @property
    def data_sharing_accepted(self) -> bool:
        return self.data_sharing_accepted_at is not None


class TokenUsage(TenantOwned):
    """Tokens and cost one provider used on one UTC day."""

    provider = models.ForeignKey(
        Provider, on_delete=models.CASCADE, related_name="usage", db_index=False
    )
    day = models.DateField()
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    calls = models.PositiveIntegerField(default=0)
    skipped_over_budget = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "token usage"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "day"], name="token_usage_provider_day_uniq"
            )
        ]
        indexes = [models.Index(fields=["tenant", "-day"], name="token_usage_tenant_day_idx")]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.day}: {self.tokens_in}+{self.tokens_out}"

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out
