"""releasetrain.journal: the one writer and reader of the store's history and the pipeline's logs."""

import json

from releasetrain import journal


def test_records_come_back_in_order_with_their_time(tmp_path):
    path = str(tmp_path / "sub" / "log.jsonl")
    first = journal.append(path, {"action": "publish", "release": "r1"})
    journal.append(path, {"action": "rollback", "release": "r0"})
    records = journal.read(path)
    assert [r["action"] for r in records] == ["publish", "rollback"] and records[0]["time"] == first["time"]


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_record_is_not_glued_to_it(tmp_path):
    path = tmp_path / "log.jsonl"
    journal.append(str(path), {"n": 1})
    with open(path, "ab") as handle:
        handle.write(b'{"n": 2, "cut')  # a crash mid-write
    journal.append(str(path), {"n": 3})
    assert [r["n"] for r in journal.read(str(path))] == [1, 3]


def test_lines_that_hold_no_record_are_skipped(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'[1, 2]\n"text"\n\xff\xfe\n{"n": 1}\nnull\n')
    assert journal.read(str(path)) == [{"n": 1}]
    assert journal.read(str(tmp_path / "missing.jsonl")) == []


def test_every_character_is_written_as_ascii(tmp_path):
    path = tmp_path / "log.jsonl"
    text = "\x00\x7f\x85\u2028\ufffe\U0001f600\udc80"
    journal.append(str(path), {"reason": text})
    assert path.read_bytes().isascii()
    assert journal.read(str(path))[0]["reason"] == text


def test_trim_keeps_the_newest_lines_once_the_journal_is_too_big(tmp_path):
    path = str(tmp_path / "log.jsonl")
    for n in range(50):
        journal.append(path, {"n": n})
    journal.trim(path, keep=10, max_bytes=10 ** 6)
    assert len(journal.read(path)) == 50  # under the limit: left alone
    journal.trim(path, keep=10, max_bytes=100)
    assert [r["n"] for r in journal.read(path)] == list(range(40, 50))
    assert all(json.loads(line) for line in open(path, encoding="ascii"))
