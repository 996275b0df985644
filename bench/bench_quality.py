"""Retrieval quality of the app's dense, BM25 and hybrid search: nDCG@10 and recall@10 on two
collections, each against the same retrievers run outside the app on whole documents.

1. CISI (../shared/data/cisi, a public test collection: 1,460 abstracts, 76 judged queries):
   every abstract uploaded through the app's own ingest as its own .txt file (title line,
   blank line, text), every query through the app's own search.
2. The module docstrings of 64 Python standard-library modules (PSF licence), with 40
   questions written for this benchmark, each labelled with the module that answers it.

Documents are read off the app's top 10 hits in order (a document once). Baselines, outside
the app: the same embedding model on whole documents (cosine), bm25s on whole documents (the
same stop words and stemmer), and reciprocal rank fusion (k = 60) of those two.
Goals: hybrid >= max(dense, BM25) on both; on CISI hybrid > the whole-document fusion.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable

from common import CISI, cisi_documents, scratch_data_dir

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


Ranked = list[str]


def ndcg_recall(ranked: Ranked, relevant: set[str]) -> tuple[float, float]:
    """Binary-relevance nDCG@10 and recall@10 of a document ranking."""
    top = ranked[:10]
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(top) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal, len(set(top) & relevant) / len(relevant)


def mean_scores(rank: Callable[[str], Ranked], queries: dict[str, str],
                judged: dict[str, set[str]]) -> tuple[float, float]:
    scores = [ndcg_recall(rank(q), judged[q]) for q in queries]
    return (sum(s[0] for s in scores) / len(scores), sum(s[1] for s in scores) / len(scores))


def cisi_queries() -> tuple[dict[str, str], dict[str, set[str]]]:
    """CISI's judged queries ({id: text}, field .W) and relevant documents ({id: {doc id}})."""
    judged: dict[str, set[str]] = {}
    for line in (CISI / "CISI.REL").read_text().splitlines():
        q, d = line.split()[:2]
        judged.setdefault(q, set()).add(d)
    queries: dict[str, str] = {}
    current, field, lines = None, None, []
    for line in [*(CISI / "CISI.QRY").read_text(encoding="latin-1").splitlines(), ".I end"]:
        if line.startswith(".I "):
            if current in judged:
                queries[current] = " ".join(" ".join(lines).split())
            current, field, lines = line.split()[1], None, []
        elif line[:2] in (".T", ".A", ".W", ".B") and len(line.strip()) == 2:
            field = line[1]
        elif field == "W":
            lines.append(line)
    return queries, judged


def baselines(texts: dict[str, str], queries: dict[str, str], model_name: str
              ) -> dict[str, dict[str, Ranked]]:
    """Whole-document dense, BM25 and their RRF, outside the app: {retriever: {query: docs}}."""
    import bm25s
    import numpy as np
    import Stemmer
    from sentence_transformers import SentenceTransformer

    ids = list(texts)
    model = SentenceTransformer(model_name, device="cpu")
    docs = model.encode([texts[i] for i in ids], batch_size=32, normalize_embeddings=True)
    qids = list(queries)
    qv = model.encode([queries[q] for q in qids], batch_size=32, normalize_embeddings=True)
    stemmer = Stemmer.Stemmer("english")
    bm = bm25s.BM25()
    bm.index(bm25s.tokenize([texts[i] for i in ids], stopwords="en", stemmer=stemmer,
                            show_progress=False), show_progress=False)
    out: dict[str, dict[str, Ranked]] = {"dense": {}, "bm25": {}, "rrf": {}}
    for n, q in enumerate(qids):
        order = np.argsort(-(docs @ qv[n]))[:100]
        out["dense"][q] = [ids[i] for i in order]
        found, scores = bm.retrieve(bm25s.tokenize([queries[q]], stopwords="en", stemmer=stemmer,
                                                   show_progress=False),
                                    k=min(100, len(ids)), show_progress=False)
        out["bm25"][q] = [ids[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]
        fused: dict[str, float] = {}
        for ranking in (out["dense"][q], out["bm25"][q]):
            for r, d in enumerate(ranking, 1):
                fused[d] = fused.get(d, 0.0) + 1 / (60 + r)
        out["rrf"][q] = sorted(fused, key=lambda d: -fused[d])
    return out


def measure(name: str, files: dict[str, tuple[str, str]], queries: dict[str, str],
            judged: dict[str, set[str]]) -> dict[str, tuple[float, float]]:
    """files: {document id: (file name, content)}. Ingest through the app, search, score."""
    from lib import knowledge
    from lib.core import load_settings

    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kb = knowledge.create_kb(settings, name)
        uploads = [(fname, content.encode()) for fname, content in files.values()]
        stored = 0
        for start in range(0, len(uploads), 100):  # uploads of 100 files, as a person would
            results = knowledge.ingest(settings, kb, uploads[start:start + 100])
            stored += sum(r.status == "stored" for r in results)
        doc_of = {fname: doc_id for doc_id, (fname, _) in files.items()}
        print(f"\n{name}: {len(files)} files uploaded, {stored} stored, "
              f"{knowledge.index_count(settings, kb):,} chunks; {len(queries)} queries")

        def app(mode: str, fusion=None) -> Callable[[str], Ranked]:
            def rank(q: str) -> Ranked:
                hits = knowledge.search(settings, kb, queries[q], 10, mode, fusion=fusion)
                return list(dict.fromkeys(doc_of[h.source] for h in hits))
            return rank

        results = {f"app {mode}": mean_scores(app(mode), queries, judged)
                   for mode in ("dense", "bm25", "hybrid")}
        ranks = knowledge.FusionSettings(method="ranks")
        results["app hybrid, RRF setting"] = mean_scores(app("hybrid", ranks), queries, judged)
        model = kb.embedding_model
    texts = {doc_id: content for doc_id, (_, content) in files.items()}
    for retriever, ranking in baselines(texts, queries, model).items():
        results[f"whole-doc {retriever} (outside)"] = mean_scores(ranking.__getitem__, queries,
                                                                   judged)
    for label, (ndcg, recall) in results.items():
        print(f"  {label:<30} nDCG@10 {ndcg:.3f}   recall@10 {recall:.3f}")
    return results


def verdict(name: str, r: dict[str, tuple[float, float]], *, beat_fusion: bool) -> bool:
    hybrid, best = r["app hybrid"][0], max(r["app dense"][0], r["app bm25"][0])
    ok = hybrid >= best
    print(f"{name}: hybrid / best single {hybrid / best:.3f}x ({'meets' if ok else 'misses'} "
          ">= 1)")
    if beat_fusion:
        base = r["whole-doc rrf (outside)"][0]
        ok2 = hybrid > base
        print(f"{name}: hybrid / whole-document fusion {hybrid / base:.3f}x "
              f"({'meets' if ok2 else 'misses'} > 1)")
        ok = ok and ok2
    return ok


def main() -> None:
    cisi = cisi_documents()
    seen: dict[str, str] = {}
    files = {}
    for doc_id, (title, text) in cisi.items():
        files[str(doc_id)] = (f"cisi-{doc_id}.txt", f"{title}\n\n{text}\n")
    queries, judged = cisi_queries()
    # Two abstracts appear twice in CISI; the app keeps one copy (same content, same file), so
    # a judgement on the second copy counts for the first, in the app and the baselines alike.
    for doc_id, (_, content) in list(files.items()):
        if content in seen:
            del files[doc_id]
            for rel in judged.values():
                if doc_id in rel:
                    rel.discard(doc_id)
                    rel.add(seen[content])
        else:
            seen[content] = doc_id
    r1 = measure("CISI", files, queries, judged)

    modules = sorted({m for _, m in QUESTIONS} | set(DISTRACTORS))
    stdlib = {m: (f"{m}.txt", (importlib.import_module(m).__doc__ or "").strip())
              for m in modules}
    questions = {str(i): q for i, (q, _) in enumerate(QUESTIONS)}
    labels = {str(i): {m} for i, (_, m) in enumerate(QUESTIONS)}
    r2 = measure("stdlib docstrings", stdlib, questions, labels)
    print()
    ok = verdict("CISI", r1, beat_fusion=True) & verdict("stdlib", r2, beat_fusion=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
