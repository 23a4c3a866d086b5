"""Local element storage and the storage factory."""

from __future__ import annotations

import pytest
from chainlit.data.storage_clients.s3 import S3StorageClient

from chat.config import AppSettings
from chat.persistence.storage import (
    LocalStorageClient,
    UnsafeKeyError,
    make_storage_client,
    safe_key,
)


@pytest.mark.parametrize(
    "key", ["", "..", "../x", "a/../../x", "/etc/passwd", "a\\..\\b", "a/\x00", "...", "a/__"]
)
def test_unsafe_keys_are_refused(key):
    with pytest.raises(UnsafeKeyError):
        safe_key(key)


def test_keys_are_normalised_inside_the_root():
    assert safe_key("t1/e1/my report (v2).pdf") == "t1/e1/my_report__v2_.pdf"
    assert safe_key("t1/.hidden") == "t1/_hidden"


async def test_upload_read_delete(tmp_path):
    storage = LocalStorageClient(tmp_path / "files", url_prefix="/chat/files")
    stored = await storage.upload_file("t1/e1/notes.md", "# Notes", mime="text/markdown")
    assert stored == {"object_key": "t1/e1/notes.md", "url": "/chat/files/t1/e1/notes.md"}
    path, mime, _ = storage.read_info("t1/e1/notes.md")
    assert path.read_text() == "# Notes" and mime == "text/markdown"
    assert await storage.get_read_url("t1/e1/notes.md") == "/chat/files/t1/e1/notes.md"
    assert await storage.upload_file("t1/e1/notes.md", b"x", overwrite=False) == {}
    assert await storage.delete_file("t1/e1/notes.md") is True
    assert storage.read_info("t1/e1/notes.md") is None
    assert await storage.delete_file("t1/e1/notes.md") is False
    assert not (tmp_path / "files" / "t1").exists()
    assert await storage.delete_file("../../etc/passwd") is False


def test_factory_picks_local_or_chainlit_s3(tmp_path):
    local = make_storage_client(AppSettings(data_dir=tmp_path))
    assert isinstance(local, LocalStorageClient) and local.root == (tmp_path / "files").resolve()
    s3 = make_storage_client(
        AppSettings(
            data_dir=tmp_path,
            s3_bucket="docs",
            s3_region="eu-west-1",
            s3_access_key="AKIAEXAMPLE",
            s3_secret_key="secret",
        )
    )
    assert isinstance(s3, S3StorageClient) and s3.bucket == "docs"
    with pytest.raises(ValueError):
        make_storage_client(AppSettings(data_dir=tmp_path, storage_backend="s3"))
