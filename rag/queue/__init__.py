"""Indexing jobs on a queue shared by every app instance (arq over Redis).

With ``DOCCHAT_QUEUE_URL`` set (``redis://host:port/db``) an upload is not indexed in the
web process: :class:`rag.queue.client.QueuedIndexer` puts the file's bytes in Redis and
enqueues one arq job per (owner, thread, document SHA-256); a ``python -m rag worker``
process (:mod:`rag.queue.worker`) indexes it with ``RagService`` and publishes progress
and the final ``IndexReport`` on the job's Redis pub/sub channel, which the uploading
session turns into the same progress message as in-process indexing. Unset: indexing
stays in process (``RagService.index_files``).
"""
