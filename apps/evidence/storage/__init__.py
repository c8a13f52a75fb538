"""Evidence stores behind one interface (base.EvidenceStorage): local (default), s3, azure."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from apps.evidence.storage.base import EvidenceStorage, RetentionError, StorageError

# By dotted path: boto3 and the Azure SDK load only where their backend is configured.
CLASSES = {
    "local": "apps.evidence.storage.local.LocalStorage",
    "s3": "apps.evidence.storage.s3.S3Storage",
    "azure": "apps.evidence.storage.azure.AzureStorage",
}
BACKENDS = tuple(CLASSES)

__all__ = ["BACKENDS", "EvidenceStorage", "RetentionError", "StorageError", "get_storage"]


@lru_cache(maxsize=8)
def _build(name: str, config: tuple) -> EvidenceStorage:
    if name == "local":
        return import_string(CLASSES[name])(config[0])
    if name == "s3":
        bucket, prefix, endpoint_url, region = config
        return import_string(CLASSES[name])(
            bucket=bucket, prefix=prefix, endpoint_url=endpoint_url, region=region
        )
    if name == "azure":
        connection_string, container = config
        return import_string(CLASSES[name])(
            connection_string=connection_string, container=container
        )
    raise StorageError(f"unknown evidence storage {name!r}; choose one of {', '.join(BACKENDS)}")


def _config(name: str) -> tuple:
    if name == "local":
        return (str(settings.FIXOPS_EVIDENCE_DIR),)
    if name == "s3":
        return (
            settings.FIXOPS_EVIDENCE_S3_BUCKET,
            settings.FIXOPS_EVIDENCE_S3_PREFIX,
            settings.FIXOPS_EVIDENCE_S3_ENDPOINT_URL,
            settings.FIXOPS_EVIDENCE_S3_REGION,
        )
    if name == "azure":
        return (
            settings.FIXOPS_EVIDENCE_AZURE_CONNECTION_STRING,
            settings.FIXOPS_EVIDENCE_AZURE_CONTAINER,
        )
    return ()


def get_storage(name: str | None = None) -> EvidenceStorage:
    """The store called `name` (default FIXOPS_EVIDENCE_STORAGE), built once per configuration."""
    name = name or settings.FIXOPS_EVIDENCE_STORAGE
    return _build(name, _config(name))
