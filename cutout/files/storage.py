"""Where files live and how people get them back.

Every object Cutout stores sits in the default storage (local disk or an S3-compatible bucket)
under a key namespaced by workspace: ``ws/<workspace id>/...``. Nothing is public. A file is handed
out only as a signed URL that expires (24 hours unless asked otherwise), and only after the caller
has checked that the requester may see it (:func:`signed_url_for`, or the caller's own check):

- on S3 the URL is the bucket's own presigned ``GET`` URL, so the bytes never pass through Django;
- on the local disk it is ``/files/<token>``, where the token is a Django-signed (HMAC with
  ``SECRET_KEY``) record of the key, its download name and its expiry; :mod:`cutout.files.views`
  serves it.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.storage import Storage, default_storage, storages
from django.db.models.fields.files import FieldFile
from django.urls import reverse

logger = logging.getLogger(__name__)

DEFAULT_EXPIRY = timedelta(hours=24)
MAX_EXPIRY = timedelta(days=7)  # S3 refuses presigned URLs that live longer than a week
SIGNING_SALT = "cutout.files.v1"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")


class FileTokenError(Exception):
    """A ``/files/<token>`` token that is malformed, tampered with or expired."""


class WrongWorkspaceError(PermissionError):
    """A file key that does not belong to the workspace it was asked for under."""


@dataclass(frozen=True)
class FileGrant:
    """What a valid local file token grants: one key, until a moment, under a download name."""

    name: str
    filename: str
    expires_at: datetime


def storage_is_s3(storage: Storage | None = None) -> bool:
    storage = storage or default_storage
    return hasattr(storage, "bucket_name") and hasattr(storage, "connection")


def _signer() -> Storage:
    """The storage that signs URLs: the bucket as browsers reach it
    (``CUTOUT_S3_PUBLIC_ENDPOINT_URL``) when that differs from the address Cutout uses."""
    if "s3_public" in settings.STORAGES:
        return storages["s3_public"]
    return default_storage


def workspace_prefix(workspace_id: object) -> str:
    return f"ws/{workspace_id}/"


def _name_of(file: FieldFile | str) -> str:
    name = file.name if isinstance(file, FieldFile) else file
    if not name:
        raise ValueError("There is no stored file to sign a URL for.")
    return str(name)


def _seconds(expires: timedelta | int) -> int:
    seconds = int(expires.total_seconds()) if isinstance(expires, timedelta) else int(expires)
    if seconds <= 0:
        raise ValueError("A signed URL must expire in the future.")
    return min(seconds, int(MAX_EXPIRY.total_seconds()))


def safe_filename(filename: str, default: str = "download") -> str:
    """A download name that is safe inside a Content-Disposition header."""
    base = posixpath.basename(filename.replace("\\", "/")).strip()
    cleaned = _UNSAFE_FILENAME.sub("_", base).strip(". ")
    return cleaned[:150] or default


def signed_url(
    file: FieldFile | str,
    *,
    expires: timedelta | int = DEFAULT_EXPIRY,
    filename: str | None = None,
    base_url: str | None = None,
) -> str:
    """An absolute URL that serves ``file`` (a FieldFile or storage key) until it expires.

    The caller must already have checked that the requester may see the file (see
    :func:`signed_url_for`). ``filename`` sets the download name (Content-Disposition: attachment);
    without it the file is shown inline. ``base_url`` (scheme and host, e.g. from the request)
    replaces ``settings.SITE_URL`` for local URLs.
    """
    name = _name_of(file)
    seconds = _seconds(expires)
    download = safe_filename(filename) if filename else ""
    if storage_is_s3():
        params: dict[str, Any] = {}
        if download:
            params["ResponseContentDisposition"] = f'attachment; filename="{download}"'
        url: str = _signer().url(name, parameters=params, expire=seconds)  # type: ignore[call-arg]
        return url
    token = signing.dumps(
        {"n": name, "f": download, "x": int(time.time()) + seconds},
        salt=SIGNING_SALT,
        compress=True,
    )
    root = (base_url or settings.SITE_URL).rstrip("/")
    return root + reverse("file_download", args=[token])


def signed_url_for(
    file: FieldFile | str,
    *,
    workspace: Any,
    expires: timedelta | int = DEFAULT_EXPIRY,
    filename: str | None = None,
    base_url: str | None = None,
) -> str:
    """:func:`signed_url`, refusing any key outside ``workspace``'s namespace.

    Use this after resolving an object through the requester's workspace: it guarantees that a bug
    elsewhere can never hand out another workspace's file.
    """
    name = _name_of(file)
    if not name.startswith(workspace_prefix(workspace.pk)):
        raise WrongWorkspaceError(f"{name!r} is not stored under workspace {workspace.pk}")
    return signed_url(name, expires=expires, filename=filename, base_url=base_url)


def file_token_read(token: str) -> FileGrant:
    """The grant inside a ``/files/<token>`` token; :class:`FileTokenError` when not valid now."""
    try:
        data = signing.loads(token, salt=SIGNING_SALT)
    except signing.BadSignature:
        raise FileTokenError("This link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        raise FileTokenError("This link is not valid.")
    expires = int(data.get("x", 0))
    if expires < time.time():
        raise FileTokenError("This link has expired.")
    return FileGrant(
        name=data["n"],
        filename=str(data.get("f") or ""),
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


def content_type_for(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def storage_delete(name: str | None) -> None:
    """Delete one object. Missing objects are not an error (deleting is idempotent)."""
    if name:
        default_storage.delete(name)


def storage_delete_quietly(name: str | None) -> bool:
    """Delete one object now if storage allows; otherwise log it and leave it to the retention
    sweep (which removes objects no row points to). Returns whether it went."""
    try:
        storage_delete(name)
    except Exception:  # cleanup is best effort; the retention sweep removes what is left behind
        logger.warning("could not delete %s now; the retention sweep will", name, exc_info=True)
        return False
    return True


@dataclass(frozen=True)
class StoredObject:
    name: str
    modified_at: datetime | None


def storage_walk(prefix: str) -> Iterator[StoredObject]:
    """Every object under ``prefix`` (recursively) with its last-modified time.

    On S3 this is one paginated listing (the listing carries the times); on disk it walks folders.
    """
    prefix = prefix.rstrip("/") + "/"
    if storage_is_s3():
        bucket = default_storage.bucket  # type: ignore[attr-defined]
        location = getattr(default_storage, "location", "") or ""
        full_prefix = posixpath.join(location, prefix) if location else prefix
        for entry in bucket.objects.filter(Prefix=full_prefix):
            key = entry.key[len(location) :].lstrip("/") if location else entry.key
            yield StoredObject(key, entry.last_modified)
        return
    yield from _walk_local(prefix.rstrip("/"))


def _walk_local(folder: str) -> Iterator[StoredObject]:
    try:
        dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for file in files:
        name = f"{folder}/{file}"
        try:
            modified: datetime | None = default_storage.get_modified_time(name)
        except OSError:
            modified = None
        yield StoredObject(name, modified)
    for sub in dirs:
        yield from _walk_local(f"{folder}/{sub}")


def storage_workspace_ids() -> list[str]:
    """The workspace ids that have a folder (prefix) in storage."""
    if storage_is_s3():
        client = default_storage.connection.meta.client  # type: ignore[attr-defined]
        location = getattr(default_storage, "location", "") or ""
        root = posixpath.join(location, "ws/") if location else "ws/"
        ids: list[str] = []
        paginator = client.get_paginator("list_objects_v2")
        bucket_name = default_storage.bucket_name  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=bucket_name, Prefix=root, Delimiter="/"):
            for entry in page.get("CommonPrefixes", ()):
                ids.append(entry["Prefix"][len(root) :].strip("/"))
        return ids
    try:
        dirs, _ = default_storage.listdir("ws")
    except FileNotFoundError:
        return []
    return list(dirs)
