"""Chainlit entry point: `chainlit run app.py`.

It only registers the handlers of ``chat/`` (auth, data layer, uploads, the flow as
steps, streaming, sharing); everything else lives in the packages.
"""

import chat.handlers  # noqa: F401  (importing registers every Chainlit callback)
