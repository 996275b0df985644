"""Retrieval quality of dense, BM25 and hybrid: nDCG@10 and recall@10 on a small labelled set.

The corpus is the module docstrings of 60 Python standard-library modules (public text, PSF
licence); each question below was written for this benchmark and is labelled with the one
module whose documentation answers it. A chunk is relevant when it comes from that module;
nDCG@10 uses the rank of the first relevant chunk, recall@10 whether one is in the top 10.
The goal: hybrid at least as good as the better of the other two.
"""

from __future__ import annotations

import hashlib
import importlib
import math

from common import scratch_data_dir

QUESTIONS = [
    ("How do I keep a priority queue with the smallest item always first?", "heapq"),
    ("Find the insertion point in a sorted list so it stays sorted", "bisect"),
    ("Split a command line string the way a Unix shell would", "shlex"),
    ("Compute the differences between two sequences of lines", "difflib"),
    ("Wrap a long paragraph of text to a fixed width", "textwrap"),
    ("Exact arithmetic with numerators and denominators", "fractions"),
    ("Convert an RGB colour to hue, saturation and value", "colorsys"),
    ("Read the members of a .zip archive", "zipfile"),
    ("Create a gzip-compressed tar archive", "tarfile"),
    ("Parse a comma-separated values file exported from a spreadsheet", "csv"),
    ("A lightweight data interchange format derived from JavaScript", "json"),
    ("Serialize Python objects to bytes and load them back", "pickle"),
    ("Encode binary data as printable ASCII text", "base64"),
    ("Authenticate a message with a keyed hash", "hmac"),
    ("Generate a secure random token for a password reset link", "secrets"),
    ("Universally unique identifiers as in RFC 4122", "uuid"),
    ("Check whether an IPv4 address belongs to a network", "ipaddress"),
    ("Print a calendar for a month or a whole year", "calendar"),
    ("Run events at scheduled times with a delay function", "sched"),
    ("A thread-safe queue shared by producer and consumer threads", "queue"),
    ("Translate my program's messages into other languages", "gettext"),
    ("Find all files whose names match a wildcard like *.txt", "glob"),
    ("Copy a whole directory tree recursively", "shutil"),
    ("Create a temporary file that is deleted automatically", "tempfile"),
    ("Compute the mean, median and standard deviation of data", "statistics"),
    ("Make a deep copy of a nested object", "copy"),
    ("Pretty-print a deeply nested dictionary", "pprint"),
    ("Measure how long a small snippet of code takes to run", "timeit"),
    ("Step through code with breakpoints in the interactive debugger", "pdb"),
    ("Parse command-line arguments with sub-commands and automatic help", "argparse"),
    ("Send an email through a mail server", "smtplib"),
    ("Download files from an FTP server", "ftplib"),
    ("Read and write mbox and Maildir mailboxes", "mailbox"),
    ("Disassemble Python bytecode into readable instructions", "dis"),
    ("Compare two directories and list the files that differ", "filecmp"),
    ("Quoted-printable encoding used in email bodies", "quopri"),
    ("References to objects that do not keep them alive", "weakref"),
    ("Hash data with SHA-256 or MD5", "hashlib"),
    ("Record messages with severity levels to a file", "logging"),
    ("Open a web page in the user's browser", "webbrowser"),
]
DISTRACTORS = [
    "string", "random", "functools", "operator", "contextlib", "reprlib", "fnmatch", "inspect",
    "tokenize", "linecache", "fileinput", "netrc", "plistlib", "getopt", "optparse",
    "selectors", "socketserver", "imaplib", "numbers", "abc", "codecs", "locale", "trace",
    "cProfile",
]


def ndcg_and_recall(ranked_sources: list[str], relevant: str) -> tuple[float, float]:
    for rank, source in enumerate(ranked_sources[:10], 1):
        if source == relevant:
            return 1.0 / math.log2(rank + 1), 1.0
    return 0.0, 0.0


def main() -> None:
    from lib import knowledge
    from lib.core import load_settings
    from lib.knowledge import Parsed, Section

    modules = sorted({m for _, m in QUESTIONS} | set(DISTRACTORS))
    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kb = knowledge.create_kb(settings, "quality")
        for name in modules:
            text = (importlib.import_module(name).__doc__ or "").strip()
            knowledge.index_parsed(settings, kb, name, Parsed("text", (Section(text),)),
                                   byte_size=len(text),
                                   sha=hashlib.sha256(text.encode()).hexdigest())
        chunks = knowledge.index_count(settings, kb)
        print(f"corpus: {len(modules)} module docstrings, {chunks} chunks; "
              f"{len(QUESTIONS)} labelled questions")
        results = {}
        for mode in ("dense", "bm25", "hybrid"):
            scores = [ndcg_and_recall([h.source for h in knowledge.search(settings, kb, q, 10,
                                                                            mode)], module)
                      for q, module in QUESTIONS]
            results[mode] = (sum(s[0] for s in scores) / len(scores),
                             sum(s[1] for s in scores) / len(scores))
    for mode, (ndcg, recall) in results.items():
        print(f"{mode:<8} nDCG@10 {ndcg:.3f}   recall@10 {recall:.3f}")
    best = max(results["dense"][0], results["bm25"][0])
    verdict = "meets" if results["hybrid"][0] >= best else "misses"
    print(f"hybrid nDCG@10 / best single {results['hybrid'][0] / best:.3f}x ({verdict} the goal)")


if __name__ == "__main__":
    main()
