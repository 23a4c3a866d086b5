"""Loaders: file bytes -> ``LoadedDocument`` (sections with page / heading path).

``rag.loaders.files.load_file`` picks the loader by extension; one module per format
(``pdf``, ``text``, ``html``, ``docx``) and the shared types in ``base``.
"""
