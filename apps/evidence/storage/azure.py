"""Azure Blob Storage with version-level immutability (azure-storage-blob). Each blob is
uploaded with If-None-Match: * (no overwrite) and a time-based immutability policy (locked for
compliance mode, unlocked for governance); the container must allow version-level
immutability. The retention is also written to the blob's metadata, and `delete` refuses while
either says the blob is retained, so the rule holds on emulators that ignore the policy."""

from __future__ import annotations

import contextlib
from datetime import datetime

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ImmutabilityPolicy
from django.utils import timezone

from apps.evidence.storage.base import EvidenceStorage, RetentionError, StorageError

META_KEY = "fixops_retain_until"


class AzureStorage(EvidenceStorage):
    name = "azure"

    def __init__(self, *, connection_string: str, container: str) -> None:
        if not connection_string:
            raise StorageError("FIXOPS_EVIDENCE_AZURE_CONNECTION_STRING is not set")
        self.service = BlobServiceClient.from_connection_string(connection_string)
        self.container = self.service.get_container_client(container)
        self.container_name = container

    def prepare(self) -> None:
        """Create the container unless it exists."""
        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()

    def _blob(self, location: str):
        prefix = f"azure://{self.container_name}/"
        if not location.startswith(prefix):
            raise StorageError(f"{location!r} is not a blob of container {self.container_name}")
        return self.container.get_blob_client(location[len(prefix) :])

    def put(self, key: str, data: bytes, *, retain_until: datetime, mode: str) -> str:
        blob = self.container.get_blob_client(key)
        policy = ImmutabilityPolicy(
            expiry_time=retain_until, policy_mode="Locked" if mode == "compliance" else "Unlocked"
        )
        try:
            blob.upload_blob(
                data,
                overwrite=False,
                immutability_policy=policy,
                metadata={META_KEY: retain_until.isoformat(), "fixops_lock_mode": mode},
            )
        except ResourceExistsError:
            raise RetentionError(f"{key} exists; evidence blobs are write-once") from None
        except AzureError as exc:
            raise StorageError(f"Azure refused to store {key}: {exc}") from exc
        return f"azure://{self.container_name}/{key}"

    def locate(self, key: str) -> str:
        try:
            self.container.get_blob_client(key).get_blob_properties()
        except AzureError as exc:
            raise StorageError(f"no evidence blob under {key}: {exc}") from exc
        return f"azure://{self.container_name}/{key}"

    def get(self, location: str) -> bytes:
        try:
            return self._blob(location).download_blob().readall()
        except AzureError as exc:
            raise StorageError(f"cannot read {location}: {exc}") from exc

    def retained_until(self, location: str) -> datetime | None:
        try:
            properties = self._blob(location).get_blob_properties()
        except AzureError as exc:
            raise StorageError(f"cannot read {location}: {exc}") from exc
        dates = [properties.immutability_policy.expiry_time]
        if META_KEY in (properties.metadata or {}):
            dates.append(datetime.fromisoformat(properties.metadata[META_KEY]))
        dates = [d for d in dates if d is not None]
        return max(dates) if dates else None

    def delete(self, location: str) -> None:
        until = self.retained_until(location)
        if until is not None and until > timezone.now():
            raise RetentionError(f"{location} is retained until {until.isoformat()}")
        try:
            self._blob(location).delete_blob()
        except HttpResponseError as exc:
            if exc.status_code == 409:
                raise RetentionError(f"Azure refused to delete {location}: {exc}") from None
            raise StorageError(f"cannot delete {location}: {exc}") from exc
