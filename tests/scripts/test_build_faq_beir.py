"""scripts/build_faq_beir.py on a tiny reST tree made here: exact output files."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_faq_beir.py"

FAQ = """\
:tocdepth: 2

===============
Programming FAQ
===============

.. only:: html

   .. contents::

General Questions
=================

.. _faq-debugger:

Is there a debugger with ``breakpoint`` support?
------------------------------------------------

Yes.  Use :func:`breakpoint` or the :mod:`pdb` module, see :pep:`553`.

Example::

   import pdb; pdb.set_trace()

Why is it slow?
---------------

See the next question.

Core Language
=============

How do I copy a list?
---------------------

Use :meth:`~list.copy` or the `slicing
syntax <https://example.org/slicing>`_.
"""

LIBRARY = """\
:mod:`!copy` --- Shallow and deep copy
======================================

.. module:: copy
   :synopsis: Shallow and deep copy operations.

Assignment statements in Python do not copy objects, they create bindings.

.. function:: copy(obj)

   Return a shallow copy of *obj*.

   .. versionadded:: 3.1

Tiny
----

Too short.
"""


def test_builds_exact_beir_folder(tmp_path: Path) -> None:
    src = tmp_path / "_sources"
    (src / "faq").mkdir(parents=True)
    (src / "library").mkdir()
    (src / "faq" / "programming.rst.txt").write_text(FAQ, encoding="utf-8")
    (src / "library" / "copy.rst.txt").write_text(LIBRARY, encoding="utf-8")
    out = tmp_path / "beir"

    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--src", str(src), "--out", str(out), "--min-words", "5"],
        capture_output=True, text=True, check=True,
    )

    assert run.stdout.splitlines()[:3] == [
        "corpus.jsonl: 3 documents (2 answers, 1 distractors)",
        "queries.jsonl: 2 queries",
        "qrels/test.tsv: 2 judgements",
    ]
    assert (out / "corpus.jsonl").read_text(encoding="utf-8") == (
        '{"_id": "faq.programming.002", "title": "Programming FAQ > General Questions", '
        '"text": "Yes.  Use breakpoint or the pdb module, see PEP 553.\\n\\nExample:'
        '\\n\\n   import pdb; pdb.set_trace()"}\n'
        '{"_id": "faq.programming.005", "title": "Programming FAQ > Core Language", '
        '"text": "Use copy or the slicing\\nsyntax."}\n'
        '{"_id": "library.copy.000", "title": "copy --- Shallow and deep copy", '
        '"text": "copy\\n\\nAssignment statements in Python do not copy objects, they create '
        'bindings.\\n\\ncopy(obj)\\n\\n   Return a shallow copy of *obj*.\\n\\n'
        '   New in version 3.1"}\n'
    )
    assert (out / "queries.jsonl").read_text(encoding="utf-8") == (
        '{"_id": "q.faq.programming.002", "text": "Is there a debugger with breakpoint support?"}\n'
        '{"_id": "q.faq.programming.005", "text": "How do I copy a list?"}\n'
    )
    assert (out / "qrels" / "test.tsv").read_text(encoding="utf-8") == (
        "query-id\tcorpus-id\tscore\n"
        "q.faq.programming.002\tfaq.programming.002\t1\n"
        "q.faq.programming.005\tfaq.programming.005\t1\n"
    )


def test_missing_faq_folder_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--src", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 2
    assert "no faq/*.rst.txt under" in run.stderr
