"""``releasetrain.deploy.report``: the run's HTML page, read back as a tree (what a browser would parse)."""

import html.parser
import os

import pytest

from releasetrain.deploy import report
from releasetrain.errors import ReleaseTrainError

VOID = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "embed", "source", "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, dict(attrs), parent, [], []

    @property
    def classes(self):
        return (self.attrs.get("class") or "").split()

    def text(self):
        return "".join(part if isinstance(part, str) else part.text() for part in self.parts)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        return [
            element for element in self.iter()
            if (tag is None or element.tag == tag) and (cls is None or cls in element.classes)
            and all(element.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())
        ]

    def find(self, tag=None, cls=None, **attrs):
        found = self.find_all(tag, cls, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls} {attrs}> in the page"
        return found[0]

    def number(self, name):
        return float(self.attrs[name])


class Tree(html.parser.HTMLParser):
    """The page as elements; fails on an end tag that closes nothing open (markup broken by a value)."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {})
        self.feed(page)
        self.close()
        assert self.current is self.root, f"<{self.current.tag}> left open"

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        self.current.parts.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        self.current.parts.append(element)

    def handle_endtag(self, tag):
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def parse(run):
    return Tree(report.render(run)).root


T0 = "2026-12-03T03:05:00+00:00"


def at(seconds):
    minutes, rest = divmod(seconds, 60)
    return f"2026-12-03T03:{5 + minutes:02d}:{rest:06.3f}+00:00"


def full_run(**overrides):
    run = {
        "run": "test-r2-20261203T030500Z", "release": "r2", "env": "test", "mode": "upgrade", "previous": "r1",
        "started": T0, "finished": at(600), "seconds": 600.0, "outcome": "deployed", "halted": None,
        "steps": [
            {"id": "01-sync", "stage": "sync", "targets": [], "started": at(0), "seconds": 20.0, "result": True,
             "comment": "modules synced", "gate": {}},
            {"id": "02-controller", "stage": "controller", "targets": ["ctl01"], "started": at(20), "seconds": 200.0,
             "result": True, "comment": "stage controller on ctl01: applied openstack.keystone",
             "gate": {"ctl01": [{"name": "service keystone", "ok": True, "detail": "active"}]}},
            {"id": "03-compute", "stage": "compute", "targets": ["cmp01", "cmp02"], "started": at(240),
             "seconds": 120.0, "result": True, "comment": "stage compute on cmp01, cmp02",
             "gate": {"cmp01": [{"name": "service nova-compute", "ok": True, "detail": "active"}],
                      "cmp02": [{"name": "service nova-compute", "ok": True, "detail": "active"}]}},
        ],
        "outages": {
            "keystone": {"url": "http://10.0.0.10:5000/v3", "asked": 600, "down_seconds": 4.0, "longest": 3.0,
                         "windows": [{"start": at(100), "end": at(103), "seconds": 3.0},
                                     {"start": at(200), "end": at(201), "seconds": 1.0}]},
            "nova": {"url": "http://10.0.0.10:8774/", "asked": 600, "down_seconds": 0.0, "longest": 0.0,
                     "windows": []},
        },
        "max_api_outage": {"*": 60.0, "keystone": 2.0},
        "versions": {
            "cmp01": {"before": {"nova-compute": "2:26.2.1-1", "python3-nova": "2:26.2.1-1"},
                      "after": {"nova-compute": "2:26.2.2-1", "python3-nova": "2:26.2.1-1"}},
        },
        "rollback": None,
    }
    run.update(overrides)
    return run


def halted_run():
    halted = {"stage": "compute", "node": "cmp02", "reason": "nova-compute is down"}
    run = full_run(outcome="rolled back", halted=halted,
                   rollback={"to": "r1", "run": "test-r1-20261203T031500Z", "outcome": "deployed", "seconds": 300.1})
    run["steps"][2] = {
        "id": "03-compute", "stage": "compute", "targets": ["cmp02"], "started": at(240), "seconds": 120.0,
        "result": False, "comment": "nova-compute did not come back",
        "gate": {"cmp02": [{"name": "service nova-compute", "ok": False, "detail": "inactive (dead)"}]},
    }
    return run


def axis(page):
    line = page.find("line", "axis")
    return line.number("x1"), line.number("x2")


def test_full_run_shows_header_rows_and_tables():
    page = parse(full_run())
    assert page.find("h1").text() == "Release r2 on test"
    outcome = page.find(id="outcome")
    assert outcome.text() == "deployed" and "bad" not in outcome.classes
    facts = dict(zip((dt.text() for dt in page.find_all("dt")), (dd.text() for dd in page.find_all("dd"))))
    assert facts["mode"] == "upgrade" and facts["previous release"] == "r1"
    assert facts["started"] == "2026-12-03 03:05:00 UTC" and facts["duration"] == "10 min 00 s"
    assert page.find_all(id="halted") == [] and page.find_all(id="notes") == [] and page.find_all(id="rollback") == []
    rows = [label.attrs["data-node"] for label in page.find_all("text", "row-label") if "data-node" in label.attrs]
    assert rows == ["region", "ctl01", "cmp01", "cmp02"]
    bars = page.find_all("g", "step")
    assert [(bar.attrs["data-node"], bar.attrs["data-stage"]) for bar in bars] == [
        ("region", "sync"), ("ctl01", "controller"), ("cmp01", "compute"), ("cmp02", "compute")]
    assert not any("failed" in bar.classes for bar in bars)
    assert page.find("g", data_node="ctl01").find("text").text() == "controller 3 min 20 s"
    keystone = page.find("tr", data_service="keystone")
    assert "over" in keystone.classes and "over the limit" in keystone.text()  # 3 s > keystone's 2 s
    assert "within" in page.find("tr", data_service="nova").classes  # the "*" limit
    assert "changed" in page.find("tr", data_package="nova-compute").classes
    assert "unchanged" in page.find("tr", data_package="python3-nova").classes
    gate = page.find("table", "gate", data_step="02-controller")
    assert [td.text() for td in gate.find_all("td")] == ["ctl01", "service keystone", "ok", "active"]


def test_a_halted_run_is_red_names_where_and_shows_the_rollback():
    page = parse(halted_run())
    outcome = page.find(id="outcome")
    assert outcome.text() == "rolled back" and "bad" in outcome.classes
    assert page.find(id="halted").text() == "halted at stage compute on cmp02: nova-compute is down"
    failed = page.find("g", "failed")
    assert failed.attrs["data-node"] == "cmp02" and failed.attrs["data-stage"] == "compute"
    assert "failed" in page.find("tr", data_step="03-compute").classes
    check = page.find("table", "gate", data_step="03-compute").find("tr", data_node="cmp02")
    assert "failed" in check.classes and "inactive (dead)" in check.text()
    rollback = page.find(id="rollback")
    assert "test-r1-20261203T031500Z" in rollback.text() and "r1" in rollback.text() and "5 min 00 s" in rollback.text()
    assert page.find_all(id="halted-reason") == []  # a one-line reason is shown whole


def test_a_long_halt_reason_shows_its_first_line_and_keeps_the_rest_folded():
    """Salt's comment for a failed pkg state runs to dozens of lines: the header shows the first
    line, cut, and the whole text sits in a <details> below it."""
    first = "openstack-nova-compute-package-pkg-installed: Attempt 1: " + "E: Version not found; " * 30
    reason = f"{first}\n\nerrors:\n    - Running scope as unit: run-r0.scope\n      E: Version '2:26.2.2-1' not found"
    run = full_run(outcome="halted", halted={"stage": "compute", "node": "cmp02", "reason": reason})
    page = parse(run)
    shown = page.find(id="halted").text()
    assert shown.startswith("halted at stage compute on cmp02: openstack-nova-compute-package-pkg-installed: Attempt 1")
    assert shown.endswith("\u2026") and "errors:" not in shown
    assert len(shown) <= len("halted at stage compute on cmp02: ") + report.SUMMARY_CHARS
    assert page.find(id="halted-reason").find("pre").text() == reason


@pytest.mark.parametrize("run", [
    {}, None, [], "a string", {"run": "x"},
    {"run": "x", "steps": []},
    {"run": "x", "started": T0, "seconds": 0, "steps": [{"id": "a", "stage": "s", "started": T0, "seconds": 0}]},
    {"started": "yesterday", "finished": 7, "seconds": "long", "steps": [{"started": "soon"}, None, 3]},
    {"steps": "many", "outages": ["x"], "versions": "v", "halted": "it broke", "rollback": "r1",
     "max_api_outage": 5},
    {"started": T0, "steps": [{"started": at(10), "seconds": float("nan"), "targets": None, "gate": []}],
     "outages": {"nova": {"windows": [{"start": None}, {"start": at(5), "end": "later"}, 3]}, "glance": None},
     "versions": {"cmp01": None, "cmp02": {"before": {"nova": None}, "after": []}}},
])
def test_missing_or_broken_fields_render(run):
    page = parse(run)
    assert page.find_all(id="outcome")


def test_the_page_says_what_is_missing():
    page = parse({"run": "x", "steps": [{"id": "a", "started": "yesterday", "seconds": 3}]})
    notes = page.find(id="notes").text()
    assert "no started in the record" in notes and "no release in the record" in notes
    assert "no usable timestamp in the record: the timeline is not drawn" in notes
    assert page.find_all(id="timeline") == []
    assert "No API probe results" in page.find(id="outages").text()
    assert "No package versions" in page.find(id="versions").text()


def test_a_step_without_a_usable_start_is_named_and_left_off_the_timeline():
    page = parse({"run": "x", "started": T0, "seconds": 60,
                  "steps": [{"id": "a", "stage": "s", "targets": ["n"], "started": "yesterday", "seconds": 3},
                            {"id": "b", "stage": "t", "targets": ["n"], "started": at(10), "seconds": 3}]})
    assert "step a has no usable start time ('yesterday'): not on the timeline" in page.find(id="notes").text()
    assert [bar.attrs["data-step"] for bar in page.find_all("g", "step")] == ["b"]
    assert page.find("tr", data_step="a").find_all("td")[3].text() == "?"


def test_without_seconds_the_duration_comes_from_start_and_finish():
    page = parse({"run": "x", "started": T0, "finished": at(90)})
    assert page.find(id="duration").text() == "1 min 30 s"
    assert "no seconds in the record: taken from started and finished" in page.find(id="notes").text()


def test_without_a_start_the_timeline_starts_at_the_earliest_time():
    page = parse({"steps": [{"id": "a", "stage": "s", "targets": ["n"], "started": at(30), "seconds": 30},
                            {"id": "b", "stage": "t", "targets": ["n"], "started": at(60), "seconds": 60}]})
    left, right = axis(page)
    assert page.find("g", data_step="a").find("rect").number("x") == left
    assert page.find("g", data_step="b").find("rect").number("x") == pytest.approx(left + (right - left) / 3, abs=0.01)


def test_a_run_of_zero_seconds_draws_at_its_start():
    page = parse({"run": "x", "started": T0, "finished": T0, "seconds": 0.0,
                  "steps": [{"id": "a", "stage": "s", "targets": ["n"], "started": T0, "seconds": 0.0,
                             "result": True}]})
    rect = page.find("g", "step").find("rect")
    assert rect.number("x") == axis(page)[0] and rect.number("width") > 0
    assert page.find(id="duration").text() == "0.0 s"


HOSTILE = "<script>alert(1)</script>"
NODE = 'cmp"01\'><img src=x onerror=alert(1)>'
COMMENT = 'said "no" & \'left\'\nline two </td></tr></table><b>bold</b> ünïcødé ☃ 𝔘'


def test_hostile_values_are_text_not_markup():
    run = full_run(release=HOSTILE, env="a&b", mode="</title><h1>x", previous=None, outcome="<b>deployed</b>",
                   halted={"stage": "s&t", "node": NODE, "reason": COMMENT})
    run["steps"].append({"id": "99-x\"y", "stage": HOSTILE, "targets": [NODE], "started": at(400), "seconds": 10,
                         "result": False, "comment": COMMENT,
                         "gate": {NODE: [{"name": HOSTILE, "ok": False, "detail": COMMENT}]}})
    run["outages"][HOSTILE] = {"url": 'javascript:"x"', "asked": 5, "windows": [{"start": at(1), "end": None}]}
    run["versions"][NODE] = {"before": {HOSTILE: "1&2"}, "after": {HOSTILE: "<3"}}
    page = parse(run)
    tags = {element.tag for element in page.iter()}
    assert "script" not in tags and "img" not in tags and "b" not in tags
    title = page.find("head").find("title").text()
    assert title == f"<b>deployed</b>: release {HOSTILE} on a&b (test-r2-20261203T030500Z)"
    assert page.find("h1").text() == f"Release {HOSTILE} on a&b"
    assert page.find(id="halted").text() == f"halted at stage s&t on {NODE}: {COMMENT.splitlines()[0]}"
    assert page.find(id="halted-reason").find("pre").text() == COMMENT
    bar = page.find("g", data_node=NODE)
    assert bar.attrs["data-stage"] == HOSTILE and bar.attrs["data-step"] == '99-x"y' and "failed" in bar.classes
    assert page.find("tr", data_step='99-x"y').find("td", "comment").text() == COMMENT
    check = page.find("table", "gate", data_step='99-x"y').find("tr", data_node=NODE)
    assert [td.text() for td in check.find_all("td")] == [NODE, HOSTILE, "failed", COMMENT]
    assert page.find("rect", "window", data_service=HOSTILE)
    assert page.find("tr", data_package=HOSTILE).find("td", "after").text() == "<3"


def test_a_lone_surrogate_still_writes(tmp_path):
    path = report.write(full_run(release="bad \udcff byte"), str(tmp_path))
    with open(path, encoding="utf-8") as handle:
        assert "bad ? byte" in handle.read()


def test_a_step_at_the_middle_of_the_run_sits_at_the_middle_of_the_axis():
    run = {"run": "x", "started": T0, "seconds": 120.0,
           "steps": [{"id": "a", "stage": "s", "targets": ["n1", "n2"], "started": at(60), "seconds": 30.0}]}
    page = parse(run)
    left, right = axis(page)
    for node in ("n1", "n2"):
        rect = page.find("g", data_node=node).find("rect")
        assert rect.number("x") == pytest.approx((left + right) / 2)
        assert rect.number("width") == pytest.approx((right - left) / 4)
    assert "unknown" in page.find("g", data_node="n1").classes  # no result recorded


def test_outage_bands_and_windows_sit_where_the_service_was_down():
    run = {"run": "x", "started": T0, "seconds": 120.0,
           "steps": [{"id": "a", "stage": "s", "targets": ["n1"], "started": at(0), "seconds": 120.0, "result": True}],
           "outages": {"keystone": {"windows": [{"start": at(30), "end": at(90), "seconds": 60.0}]},
                       "nova": {"windows": [{"start": at(90), "end": None, "seconds": 20.0}]}}}
    page = parse(run)
    left, right = axis(page)
    quarter = (right - left) / 4
    band = page.find("rect", "outage", data_service="keystone")
    assert (band.number("x"), band.number("width")) == pytest.approx((left + quarter, 2 * quarter))
    row = page.find("g", "step").find("rect")
    assert band.number("y") <= row.number("y")
    assert band.number("y") + band.number("height") >= row.number("y") + row.number("height")
    window = page.find("rect", "window", data_service="keystone")
    assert (window.number("x"), window.number("width")) == pytest.approx((left + quarter, 2 * quarter))
    assert window.number("y") > row.number("y")  # the service rows are under the node rows
    still_down = page.find("rect", "window", data_service="nova")
    assert "open" in still_down.classes
    assert still_down.number("x") + still_down.number("width") == pytest.approx(right)  # drawn to the run's end
    assert "one still open" in page.find("tr", data_service="nova").text()


def test_the_axis_ticks_are_minutes_for_a_long_run():
    page = parse(full_run(seconds=812.4, finished=None))
    labels = [text.text() for text in page.find_all("text", "tick-label")]
    assert labels == [f"{minute} min" for minute in range(0, 14, 2)]
    left, right = axis(page)
    ticks = [line.number("x1") for line in page.find_all("line", "tick")]
    assert ticks[0] == left and ticks[-1] <= right and ticks == sorted(ticks)


def test_write_stores_the_page_atomically(tmp_path, monkeypatch):
    directory = tmp_path / "reports" / "deploy"
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append((src, dst)), real_replace(src, dst)))
    path = report.write(full_run(), str(directory))
    assert path == str(directory / "test-r2-20261203T030500Z.html")
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == report.render(full_run())
    (source, target), = replaced
    assert os.path.dirname(source) == str(directory) and target == path
    assert os.listdir(directory) == ["test-r2-20261203T030500Z.html"]


def test_a_failed_write_keeps_the_old_page_and_no_temporary(tmp_path, monkeypatch):
    path = report.write(full_run(), str(tmp_path))
    before = open(path, encoding="utf-8").read()

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        report.write(full_run(release="r3"), str(tmp_path))
    assert open(path, encoding="utf-8").read() == before
    assert os.listdir(tmp_path) == [os.path.basename(path)]


@pytest.mark.parametrize("run_id", ["../etc/passwd", "a/b", "", None, 3, ".", "..", "x y", "r\n1", "ré"])
def test_write_refuses_an_unsafe_run_id_in_one_line(tmp_path, run_id):
    with pytest.raises(ReleaseTrainError) as raised:
        report.write(full_run(run=run_id), str(tmp_path / "out"))
    message = str(raised.value)
    assert "\n" not in message and repr(run_id) in message and "safe file name" in message
    assert not (tmp_path / "out").exists()
