"""Real storage backends whose writes of cutout results fail, for fault-injection tests."""

from __future__ import annotations

import re
from typing import Any

from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage

RESULT = re.compile(r"/cutouts/[^/]+/result\.[a-z]+$")


class FaultyFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        if RESULT.search(name):
            raise OSError(28, "No space left on device (injected)")
        return str(super()._save(name, content))  # type: ignore[misc]


class FaultyS3Storage(S3Storage):
    def _save(self, name: str, content: Any) -> str:
        if RESULT.search(name):
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "InternalError", "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "PutObject",
            )
        return str(super()._save(name, content))
