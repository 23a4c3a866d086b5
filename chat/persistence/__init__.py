"""Persistence of the chat: database engines and Alembic migrations (``db``), Chainlit's
data layer with 2.12's gaps fixed (``data_layer``, ``data_rows``), password users
(``users``) and element file storage (``storage``)."""
