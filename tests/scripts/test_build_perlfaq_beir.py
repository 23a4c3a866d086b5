"""scripts/build_perlfaq_beir.py on a tiny POD tree made here (rendered by Perl's real
pod2text): exact output files; perltoc and perl*delta pages never become distractors."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_perlfaq_beir.py"
pytestmark = pytest.mark.skipif(shutil.which("pod2text") is None,
                                reason="pod2text (Debian package perl) is not installed")

PERLFAQ1 = """\
=head1 NAME

perlfaq1 - General Questions About Perl

=head1 DESCRIPTION

This section of the FAQ answers very general, high-level questions about Perl.

=head1 Data: Strings

=head2 How do I reverse a string?

Use C<reverse()> in scalar context, as documented in
L<perlfunc/reverse>:

    $reversed = reverse $string;

=head2 Is it free?

See L</Who supports Perl?>.

=head2 What is the E<lt>E<gt> operator?

It reads lines from B<STDIN> or the files named in C<@ARGV>.

=cut
"""

PERLFUNC = """\
=head1 NAME

perlfunc - Perl builtin functions

=head1 DESCRIPTION

The functions in this section can serve as terms in an expression.

=head2 Alphabetical Listing of Perl Functions

=over

=item reverse LIST

In list context, returns a list value consisting of the elements of LIST
in the opposite order.

=back

=head2 Tiny

Too short.
"""

# lists every question verbatim: must not be a distractor (nor a delta change log)
PERLTOC = """\
=head1 NAME

perltoc - perl documentation table of contents

=head1 DESCRIPTION

How do I reverse a string? Is it free? What is the operator? All questions listed here.
"""


def test_builds_exact_beir_folder(tmp_path: Path) -> None:
    pod = tmp_path / "perl" / "5.36" / "pod"
    pod.mkdir(parents=True)
    (pod / "perlfaq1.pod").write_text(PERLFAQ1, encoding="utf-8")
    (pod / "perlfunc.pod").write_text(PERLFUNC, encoding="utf-8")
    (pod / "perltoc.pod").write_text(PERLTOC, encoding="utf-8")
    (pod / "perl5360delta.pod").write_text(PERLTOC, encoding="utf-8")
    out = tmp_path / "beir"

    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--src", str(tmp_path / "perl"), "--out", str(out),
         "--min-words", "5"],
        capture_output=True, text=True, check=True,
    )

    assert run.stdout.splitlines()[:3] == [
        "corpus.jsonl: 4 documents (2 answers, 2 distractors)",
        "queries.jsonl: 2 queries",
        "qrels/test.tsv: 2 judgements",
    ]
    assert (out / "corpus.jsonl").read_text(encoding="utf-8") == (
        '{"_id": "perlfaq1.001", "title": "perlfaq1 - General Questions About Perl > '
        'Data: Strings", "text": "Use \\"reverse()\\" in scalar context, as documented in '
        '\\"reverse\\" in\\nperlfunc:\\n\\n    $reversed = reverse $string;"}\n'
        '{"_id": "perlfaq1.003", "title": "perlfaq1 - General Questions About Perl > '
        'Data: Strings", "text": "It reads lines from STDIN or the files named in @ARGV."}\n'
        '{"_id": "perlfunc.000", "title": "perlfunc - Perl builtin functions > DESCRIPTION", '
        '"text": "The functions in this section can serve as terms in an expression."}\n'
        '{"_id": "perlfunc.001", "title": "perlfunc - Perl builtin functions > DESCRIPTION > '
        'Alphabetical Listing of Perl Functions", "text": "reverse LIST\\n    In list context, '
        'returns a list value consisting of the elements of\\n    LIST in the opposite '
        'order."}\n'
    )
    assert (out / "queries.jsonl").read_text(encoding="utf-8") == (
        '{"_id": "q.perlfaq1.001", "text": "How do I reverse a string?"}\n'
        '{"_id": "q.perlfaq1.003", "text": "What is the <> operator?"}\n'
    )
    assert (out / "qrels" / "test.tsv").read_text(encoding="utf-8") == (
        "query-id\tcorpus-id\tscore\n"
        "q.perlfaq1.001\tperlfaq1.001\t1\n"
        "q.perlfaq1.003\tperlfaq1.003\t1\n"
    )


def test_missing_perl_faq_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--src", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 2
    assert "no perlfaq1.pod under" in run.stderr
    assert "apt-get install perl-doc" in run.stderr
