"""S3 with Object Lock (boto3). The bucket must have Object Lock enabled (`prepare()` creates
one so). Every object is put with If-None-Match: * (no overwrite) and a retention in the
tenant's mode; the location names the object version, which S3 itself refuses to delete while
it is locked (COMPLIANCE: nobody; GOVERNANCE: only with s3:BypassGovernanceRetention)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.utils import timezone

from apps.evidence.storage.base import EvidenceStorage, RetentionError, StorageError

REFUSED = {"AccessDenied", "InvalidRequest", "PreconditionFailed", "ConditionalRequestConflict"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Storage(EvidenceStorage):
    name = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str = "", region: str = ""):
        if not bucket:
            raise StorageError("FIXOPS_EVIDENCE_S3_BUCKET is not set")
        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def prepare(self) -> None:
        """Create the bucket with Object Lock enabled unless it exists."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)

    def _parse(self, location: str) -> tuple[str, str]:
        parts = urlsplit(location)
        version = parse_qs(parts.query).get("versionId", [""])[0]
        if parts.scheme != "s3" or parts.netloc != self.bucket or not version:
            raise StorageError(f"{location!r} is not an object version of bucket {self.bucket}")
        return parts.path.lstrip("/"), version

    def put(self, key: str, data: bytes, *, retain_until: datetime, mode: str) -> str:
        name = self.prefix + key
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=data,
                IfNoneMatch="*",
                ObjectLockMode=mode.upper(),
                ObjectLockRetainUntilDate=retain_until,
                ContentType="application/octet-stream",
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise RetentionError(f"{name} exists; evidence objects are write-once") from None
            raise StorageError(f"S3 refused to store {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 is unreachable: {exc}") from exc
        version = response.get("VersionId")
        if not version:
            raise StorageError(f"bucket {self.bucket} is not versioned; enable Object Lock")
        return f"s3://{self.bucket}/{name}?versionId={version}"

    def locate(self, key: str) -> str:
        name = self.prefix + key
        try:
            version = self.client.head_object(Bucket=self.bucket, Key=name).get("VersionId")
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"no evidence object under {name}: {exc}") from exc
        if not version:
            raise StorageError(f"bucket {self.bucket} is not versioned; enable Object Lock")
        return f"s3://{self.bucket}/{name}?versionId={version}"

    def get(self, location: str) -> bytes:
        name, version = self._parse(location)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=name, VersionId=version)[
                "Body"
            ].read()
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot read {location}: {exc}") from exc

    def retained_until(self, location: str) -> datetime | None:
        name, version = self._parse(location)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name, VersionId=version)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot read {location}: {exc}") from exc
        return head.get("ObjectLockRetainUntilDate")

    def delete(self, location: str) -> None:
        name, version = self._parse(location)
        until = self.retained_until(location)
        if until is not None and until > timezone.now():
            raise RetentionError(f"{location} is retained until {until.isoformat()}")
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name, VersionId=version)
        except ClientError as exc:
            if _code(exc) in REFUSED:
                raise RetentionError(f"S3 refused to delete {location}: {exc}") from None
            raise StorageError(f"cannot delete {location}: {exc}") from exc
