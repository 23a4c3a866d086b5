"""Element storage: local disk by default, Amazon S3 through Chainlit's own client.

`LocalStorageClient` keeps element bytes under <data_dir>/files/<object key> and hands
out URLs of the file route (chat.routes), which checks that the viewer may see the
element's thread before serving it.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from chainlit.data.storage_clients.base import BaseStorageClient

from chat.config import AppSettings

_SAFE_PART = re.compile(r"[^A-Za-z0-9._@+=-]")
MAX_PART = 150


class UnsafeKeyError(ValueError):
    """An object key that would leave the storage root (.., absolute, empty parts)."""


def safe_key(object_key: str) -> str:
    """Normalise an object key into path parts that stay inside the storage root.

    Each part keeps letters, digits and ``._@+=-`` (others become ``_``), at most 150
    characters. Raises UnsafeKeyError for "", ".", "..", absolute keys or backslashes.
    """
    if not object_key or "\\" in object_key or "\x00" in object_key:
        raise UnsafeKeyError(f"unsafe object key: {object_key!r}")
    path = PurePosixPath(object_key)
    if path.is_absolute():
        raise UnsafeKeyError(f"unsafe object key: {object_key!r}")
    parts = []
    for part in path.parts:
        if part in ("", ".", ".."):
            raise UnsafeKeyError(f"unsafe object key: {object_key!r}")
        cleaned = _SAFE_PART.sub("_", part)[:MAX_PART]
        if cleaned.startswith("."):  # no hidden files (the MIME sidecars are hidden)
            cleaned = "_" + cleaned[1:]
        if cleaned.strip("._") == "":
            raise UnsafeKeyError(f"unsafe object key: {object_key!r}")
        parts.append(cleaned)
    return "/".join(parts)


class LocalStorageClient(BaseStorageClient):
    """Chainlit BaseStorageClient on local disk.

    Args:
        root: directory holding the files (created on first upload).
        url_prefix: URL path of the file route, e.g. "/files"; read URLs are
            "<url_prefix>/<quoted key>".
    """

    def __init__(self, root: str | Path, url_prefix: str = "/files"):
        self.root = Path(root).resolve()
        self.url_prefix = url_prefix.rstrip("/")

    def path_for(self, object_key: str) -> Path:
        """Absolute path of a (safe) key; raises UnsafeKeyError when it leaves the root."""
        path = (self.root / safe_key(object_key)).resolve()
        if self.root not in path.parents:
            raise UnsafeKeyError(f"unsafe object key: {object_key!r}")
        return path

    def url_for(self, object_key: str) -> str:
        """The file route URL of a key."""
        return f"{self.url_prefix}/{quote(safe_key(object_key))}"

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        """Write the bytes (str as UTF-8) atomically and a sidecar with the MIME type.

        Returns: {"object_key": safe key, "url": read URL}; {} when the key exists and
        `overwrite` is False. Raises UnsafeKeyError, OSError.
        """
        key = safe_key(object_key)
        path = self.path_for(key)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        meta = {"mime": mime, "content_disposition": content_disposition}
        written = await asyncio.to_thread(self._write, path, payload, meta, overwrite)
        return {"object_key": key, "url": self.url_for(key)} if written else {}

    @staticmethod
    def _write(path: Path, payload: bytes, meta: dict, overwrite: bool) -> bool:
        if path.exists() and not overwrite:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, content in ((path, payload), (_meta_path(path), json.dumps(meta).encode())):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return True

    async def delete_file(self, object_key: str) -> bool:
        """Remove the file; True if it existed. Empty parent folders are removed too."""
        try:
            path = self.path_for(object_key)
        except UnsafeKeyError:
            return False
        return await asyncio.to_thread(self._delete, path)

    def _delete(self, path: Path) -> bool:
        existed = path.exists()
        path.unlink(missing_ok=True)
        _meta_path(path).unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return existed

    async def get_read_url(self, object_key: str) -> str:
        """URL of the file route for this key (the route checks who may read it)."""
        return self.url_for(object_key)

    def read_info(self, object_key: str) -> tuple[Path, str, str | None] | None:
        """(path, mime, content disposition) of a stored key, or None if absent."""
        path = self.path_for(object_key)
        if not path.is_file():
            return None
        mime, disposition = None, None
        try:
            meta = json.loads(_meta_path(path).read_text())
            mime, disposition = meta.get("mime"), meta.get("content_disposition")
        except (OSError, ValueError):
            pass
        mime = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return path, mime, disposition

    async def close(self) -> None:
        return None


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta.json")


def make_storage_client(settings: AppSettings) -> BaseStorageClient:
    """The storage configured in settings: S3 (Chainlit's S3StorageClient) or local disk.

    Raises: ValueError when storage is "s3" but BUCKET_NAME is unset.
    """
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("DOCCHAT_STORAGE=s3 needs BUCKET_NAME")
        from chainlit.data.storage_clients.s3 import S3StorageClient

        kwargs: dict[str, Any] = {}
        if settings.s3_region:
            kwargs["region_name"] = settings.s3_region
        if settings.s3_access_key and settings.s3_secret_key:
            kwargs["aws_access_key_id"] = settings.s3_access_key
            kwargs["aws_secret_access_key"] = settings.s3_secret_key.get_secret_value()
        if settings.s3_endpoint:
            kwargs["endpoint_url"] = settings.s3_endpoint
        return S3StorageClient(bucket=settings.s3_bucket, **kwargs)
    return LocalStorageClient(settings.files_dir, url_prefix=settings.files_url_prefix)
