"""AppTest for the Documents page, the Retrieval inspector, and grounded chat."""

from __future__ import annotations

from corpus import hostile, valid
from support import shown

from lib import chat, knowledge
from lib.core import get_settings


def _with_kb(app, page: str, name: str = "Team docs"):
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    kb = knowledge.create_kb(settings, name)
    return app(page), settings, kb


def test_create_a_knowledge_base(app):
    at = app("app_pages/documents.py")
    assert any("Create a knowledge base" in shown(i.value) for i in at.info)
    at.text_input(key="kb_new_name").input("Support").run()
    at.button(key="kb_create").click().run()
    assert at.selectbox(key="kb_pick").value == "Support"
    assert [kb.name for kb in knowledge.list_kbs(get_settings().db)] == ["Support"]


def test_delete_a_knowledge_base_says_what_went(app):
    at, settings, _ = _with_kb(app, "app_pages/documents.py", "Old notes")
    knowledge.create_kb(settings, "Support")
    at.run()
    at.selectbox(key="kb_pick").set_value("Old notes").run()
    at.button(key="kb_delete").click().run()
    assert not at.exception and not at.error
    assert [shown(t.value) for t in at.toast] == ["Deleted the knowledge base Old notes."]
    assert [k.name for k in knowledge.list_kbs(settings.db)] == ["Support"]
    assert at.selectbox(key="kb_pick").value == "Support"


def test_upload_a_batch_with_a_bad_file(app):
    at, settings, kb = _with_kb(app, "app_pages/documents.py")
    good = valid()
    at.file_uploader(key="doc_upload_0").set_value([
        ("deploy.md", good["deploy.md"], "text/markdown"),
        ("binary.txt", hostile()["binary.txt"], "text/plain"),
        ("faq.html", good["faq.html"], "text/html")]).run()
    at.button(key="doc_ingest").click().run()
    assert not at.exception
    assert any("deploy.md: 2 chunks" in shown(s.value) for s in at.success)
    assert any("binary.txt: The file is binary" in shown(e.value) for e in at.error)
    assert not at.get("progress")  # the batch is over: results, not bars
    assert at.file_uploader(key="doc_upload_1").value in (None, [])  # emptied for the next
    assert at.subheader[0].value == "2 documents"
    assert sorted(d.name for d in knowledge.documents(settings.db, kb)) == ["deploy.md", "faq.html"]


def test_inspect_delete_and_rebuild(app):
    at, settings, kb = _with_kb(app, "app_pages/documents.py")
    knowledge.ingest(settings, kb, [("deploy.md", valid()["deploy.md"]),
                                    ("notes.txt", valid()["notes.txt"])])
    at.run()
    at.selectbox(key="doc_pick").set_value(
        next(d for d in knowledge.documents(settings.db, kb) if d.name == "deploy.md")).run()
    assert any("2 chunks" in shown(c.value) for c in at.caption)
    table = next(df.value for df in at.dataframe if "tokens" in df.value.columns)
    assert list(table["chunk"]) == [1, 2]  # counted from 1, as everywhere a chunk is named
    knowledge.chroma_client(settings).delete_collection(kb.collection)  # damage the index
    at.run()
    assert any("disagree" in shown(w.value) for w in at.warning)
    at.button(key="doc_rebuild").click().run()
    assert any("Rebuilt: 3 chunks" in shown(s.value) for s in at.success)
    assert knowledge.index_count(settings, kb) == 3
    deploy = next(d for d in knowledge.documents(settings.db, kb) if d.name == "deploy.md")
    assert at.button(key="doc_delete").disabled  # not before it is ticked
    sure = at.checkbox(key=f"doc_delete_sure_{deploy.id}")
    assert shown(sure.label) == "Yes, delete deploy.md and its 2 chunks from the knowledge base"
    sure.check().run()
    assert not at.button(key="doc_delete").disabled
    at.button(key="doc_delete").click().run()
    assert not at.exception and not at.error
    assert [shown(t.value) for t in at.toast] == ["Deleted deploy.md (2 chunks)."]
    assert [d.name for d in knowledge.documents(settings.db, kb)] == ["notes.txt"]
    assert knowledge.index_count(settings, kb) == 1
    assert at.subheader[0].value == "1 documents"
    assert at.selectbox(key="doc_pick").value.name == "notes.txt"
    at.run()  # the next click elsewhere: the toast is not repeated
    assert not at.toast


def test_retrieval_inspector_side_by_side(app):
    at, settings, kb = _with_kb(app, "app_pages/retrieval.py")
    knowledge.ingest(settings, kb, list(valid().items()))
    at.run()
    at.text_input(key="ret_query").input("How many days of leave do employees get?").run()
    assert not at.exception and not at.error
    titles = [m.value for m in at.markdown
              if shown(m.value).startswith("**") and m.value.endswith("**")]
    assert titles == ["**Dense**", "**BM25**", "**Hybrid (scores)**"]
    firsts = [m.value for m in at.markdown if shown(m.value).startswith("**1.**")]
    assert len(firsts) == 3 and all("handbook.docx" in f for f in firsts)
    assert any("in all 3" in f for f in firsts)
    # Why each ranked: the hybrid top hit was near the top of both lists, with a fused score.
    whys = [shown(c.value) for c in at.caption if shown(c.value).startswith("dense ")]
    assert any(w.startswith("dense #") and "BM25 #" in w and "fused " in w for w in whys), whys
    notes = next(d for d in knowledge.documents(settings.db, kb) if d.name == "notes.txt")
    at.multiselect(key="ret_docs").set_value([notes]).run()
    hits = [m.value for m in at.markdown if m.value[:3] == "**1" or m.value[:4] == "**2."]
    assert hits and all("notes.txt" in h for h in hits)


def columns_of(at) -> dict[str, list[tuple[int, str, str]]]:
    """Each result column by its title: (number, where, why) per hit, and its note."""
    out = {}
    for col in at.columns:
        marks = [shown(m.value) for m in col.markdown]
        if not marks or not marks[0].startswith("**"):
            continue
        captions = [shown(c.value) for c in col.caption]
        whys = [c for c in captions if c.startswith("dense ")]
        hits = [m for m in marks[1:] if m.startswith("**")]
        rows = [(int(m[2:m.index(".")]), m.split("` ", 1)[1].split(" :")[0], why)
                for m, why in zip(hits, whys, strict=True)]
        out[marks[0].strip("*")] = rows
        out[marks[0].strip("*") + " note"] = captions[0]
    return out


def test_each_retrieval_column_is_its_own_ranking_and_says_where_a_chunk_stands(app):
    """The probe's complaint: a chunk BM25 ranked #1 said "BM25 not found" in the Dense
    column, and the one-chunk-per-document rule reshuffled Dense and BM25."""
    at, settings, kb = _with_kb(app, "app_pages/retrieval.py")
    rules = "\n\n".join(f"## Leave rule {i}\n\nEmployees get {20 + i} days of paid leave in "
                         f"year {i} of service; leave days carry over." for i in range(4))
    knowledge.ingest(settings, kb, [
        ("leave.md", f"# Leave policy\n\n{rules}".encode()),
        ("travel.md", b"# Travel\n\nTrain tickets are refunded within thirty days.\n\n"
                      b"## Hotels\n\nHotels up to 120 euros a night are fine."),
        ("notes.txt", valid()["notes.txt"])], size=48, overlap=0)
    at.run()
    for query in ("How many days of leave do employees get?", "refund of train tickets",
                  "backups"):
        at.text_input(key="ret_query").input(query).run()
        at.slider(key="ret_k").set_value(6).run()
        assert not at.exception and not at.error
        cols = columns_of(at)
        dense, bm25, hybrid = cols["Dense"], cols["BM25"], cols["Hybrid (scores)"]
        assert [n for n, _, _ in dense] == list(range(1, len(dense) + 1))
        for n, _, why in dense:  # its own rank, and the BM25 rank filled in where there is one
            assert why.startswith(f"dense #{n} (")
            assert "not found" not in why and ("BM25 #" in why or "shares no word" in why)
        for n, _, why in bm25:
            assert f"BM25 #{n} (" in why and why.startswith("dense #")
        whys = {}
        for rows in (dense, bm25, hybrid):  # one chunk, one story, whichever column
            for _, where, why in rows:
                whys.setdefault(where, set()).add(why.split(" · fused")[0])
        assert all(len(w) == 1 for w in whys.values()), whys
        assert "at most 1 chunk per document" in cols["Hybrid (scores) note"]
        assert "Its own ranking" in cols["Dense note"] and "Its own ranking" in cols["BM25 note"]
    # The leave question: dense keeps all four leave chunks on top, one document or not;
    # hybrid gives the other documents a turn.
    at.text_input(key="ret_query").input("How many days of leave do employees get?").run()
    cols = columns_of(at)
    assert [w.split(",")[0] for _, w, _ in cols["Dense"][:4]] == ["leave.md"] * 4
    assert len({w.split(",")[0] for _, w, _ in cols["Hybrid (scores)"][:3]}) == 3
    assert all(", chunk " in w and ", chunk 0" not in w for _, w, _ in cols["Dense"])


def test_chat_with_a_knowledge_base_cites_sources(app):
    at, settings, kb = _with_kb(app, "app_pages/chat.py")
    knowledge.ingest(settings, kb, list(valid().items()))
    at.run()
    at.selectbox(key="chat_kb").set_value("Team docs").run()
    at.chat_input[0].set_value("How long is the warranty?").run()
    assert not at.exception and not at.error
    expanders = [shown(e.label) for e in at.expander]
    assert expanders[0].startswith("[1] guide.pdf, page 1")
    [conv] = chat.list_conversations(settings.db)
    reply = chat.list_messages(settings.db, conv.id)[-1]
    assert reply.meta["sources"][0]["source"] == "guide.pdf"
    assert knowledge.chunks_for_call(settings.db, reply.call_id)


def test_retrieval_fusion_settings_are_saved_per_knowledge_base(app):
    at, settings, kb = _with_kb(app, "app_pages/retrieval.py")
    knowledge.ingest(settings, kb, list(valid().items()))
    at.run()
    assert any("Hybrid fuses z-scores, dense weight 0.50" in shown(c.value) for c in at.caption)
    at.radio(key=f"fs_method_{kb.id}").set_value("ranks")
    at.slider(key=f"fs_weight_{kb.id}").set_value(0.7)
    at.number_input(key=f"fs_per_{kb.id}").set_value(2)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    saved = knowledge.search_settings(settings.db, kb)
    assert (saved.method, saved.dense_weight, saved.per_document) == ("ranks", 0.7, 2)
    at.text_input(key="ret_query").input("How many days of leave do employees get?").run()
    titles = [m.value for m in at.markdown if m.value == "**Hybrid (RRF)**"]
    assert titles
    assert any("reciprocal ranks (k = 60), dense weight 0.70" in shown(c.value)
               for c in at.caption)
    at.button(key=f"fs_reset_{kb.id}").click().run()
    assert knowledge.search_settings(settings.db, kb) == knowledge.FusionSettings()
