"""The deploy report as headless Chromium shows it: where the bars land, their colours, what text is visible.

A copy of the page gets a test-only script that measures the drawn elements (``getBoundingClientRect``,
computed colours, ``innerText``) and writes them into the DOM as JSON, which ``--dump-dom`` hands back.
The page itself has no script.  ``python -m tests.functional.deploy.test_report_chromium [png]`` writes
the example screenshot (bench/results/report-example.png).
"""

import datetime
import html
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import pytest

from releasetrain.deploy import report

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
WINDOW = (1400, 1000)
T0 = "2026-12-03T03:05:01.123+00:00"


def at(seconds):
    moment = datetime.datetime.fromisoformat(T0) + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds")


def gate(node, *services, failed=None, detail="inactive (dead) since 03:17:44; 3 restarts"):
    return {node: [{"name": f"service {name}", "ok": name != failed, "detail": detail if name == failed else "active"}
                   for name in services]}


def upgrade_record():
    """A 4-node upgrade r1 -> r2: the compute canary on cmp01 passes, cmp02's batch fails its gate, rolled back."""
    steps = [
        ("01-sync", "sync", [], 0, 14.2, True, {}),
        ("02-render", "render", [], 14.2, 9.8, True, {}),
        ("03-infra", "infra", ["ctl01"], 24, 61.5, True, gate("ctl01", "mariadb", "rabbitmq-server", "memcached")),
        ("04-controller", "controller", ["ctl01"], 85.5, 287.3, True,
         gate("ctl01", "apache2", "nova-api", "nova-scheduler", "nova-conductor", "neutron-server")),
        ("05-network", "network", ["net01"], 372.8, 96.4, True,
         gate("net01", "neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent")),
        ("06-compute-canary", "compute", ["cmp01"], 469.2, 121.7, True, gate("cmp01", "nova-compute", "ovs-vswitchd")),
        ("07-compute", "compute", ["cmp02"], 590.9, 181.6, False,
         gate("cmp02", "nova-compute", "ovs-vswitchd", failed="nova-compute")),
    ]
    node_packages = {
        "ctl01": {"nova-api": ("2:26.2.1-1~deb12u1", "2:26.2.2-1~deb12u1"), "keystone": ("2:23.0.0-1", "2:23.0.1-1"),
                  "mariadb-server": ("1:10.11.6-0+deb12u1", "1:10.11.6-0+deb12u1")},
        "net01": {"neutron-l3-agent": ("2:22.0.0-1", "2:22.0.2-1"), "openvswitch-switch": ("3.1.0-2", "3.1.0-2")},
        "cmp01": {"nova-compute": ("2:26.2.1-1~deb12u1", "2:26.2.2-1~deb12u1"),
                  "qemu-system-x86": ("1:7.2+dfsg-7", "1:7.2+dfsg-7")},
        "cmp02": {"nova-compute": ("2:26.2.1-1~deb12u1", "2:26.2.1-1~deb12u1")},
    }
    return {
        "run": "test-r2-20261203T030501Z", "release": "r2", "env": "test", "mode": "upgrade", "previous": "r1",
        "started": T0, "finished": at(812.4), "seconds": 812.4, "outcome": "rolled back",
        "halted": {"stage": "compute", "node": "cmp02", "reason": "health gate: service nova-compute inactive (dead)"},
        "steps": [
            {"id": ident, "stage": stage, "targets": targets, "started": at(start), "seconds": seconds,
             "result": result,
             "comment": f"stage {stage} on {', '.join(targets) or 'region'}: applied openstack.{stage}",
             "gate": checks}
            for ident, stage, targets, start, seconds, result, checks in steps
        ],
        "outages": {
            "keystone": {"url": "http://10.10.0.11:5000/v3", "asked": 812, "down_seconds": 7.0, "longest": 5.0,
                         "windows": [{"start": at(140), "end": at(145), "seconds": 5.0},
                                     {"start": at(300), "end": at(302), "seconds": 2.0}]},
            "nova": {"url": "http://10.10.0.11:8774/", "asked": 812, "down_seconds": 96.0, "longest": 62.0,
                     "windows": [{"start": at(160), "end": at(194), "seconds": 34.0},
                                 {"start": at(750.4), "end": None, "seconds": 62.0}]},
            "neutron": {"url": "http://10.10.0.11:9696/", "asked": 812, "down_seconds": 0.0, "longest": 0.0,
                        "windows": []},
        },
        "max_api_outage": {"*": 60.0, "nova": 30.0},
        "versions": {node: {"before": {name: pair[0] for name, pair in packages.items()},
                            "after": {name: pair[1] for name, pair in packages.items()}}
                     for node, packages in node_packages.items()},
        "rollback": {"to": "r1", "run": "test-r1-20261203T031855Z", "outcome": "deployed", "seconds": 300.1},
    }


MEASURE = """<script>
(function () {
  function box(el) {
    var r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height};
  }
  function all(selector, fill) {
    return Array.prototype.map.call(document.querySelectorAll(selector), function (el) {
      var shape = el.tagName.toLowerCase() === 'g' ? el.querySelector('rect') : el;
      var item = {box: box(shape), classes: el.getAttribute('class'), node: el.getAttribute('data-node'),
                  stage: el.getAttribute('data-stage'), step: el.getAttribute('data-step'),
                  service: el.getAttribute('data-service'), text: el.textContent};
      item.fill = getComputedStyle(shape).fill;
      item.opacity = getComputedStyle(shape).fillOpacity;
      return item;
    });
  }
  var outcome = document.getElementById('outcome');
  var out = {
    bars: all('g.step'), labels: all('text.row-label'), bands: all('rect.outage'), windows: all('rect.window'),
    axis: box(document.querySelector('line.axis')), svg: box(document.getElementById('timeline')),
    outcome: {box: box(outcome), text: outcome.innerText, background: getComputedStyle(outcome).backgroundColor},
    halted: {box: box(document.getElementById('halted')), text: document.getElementById('halted').innerText,
             color: getComputedStyle(document.getElementById('halted')).color},
    sections: {}, viewport: [window.innerWidth, window.innerHeight],
    scrollWidth: document.documentElement.scrollWidth,
    resources: performance.getEntriesByType('resource').map(function (e) { return e.name; })
  };
  ['outages', 'versions', 'steps', 'rollback'].forEach(function (id) {
    out.sections[id] = document.getElementById(id).innerText;
  });
  var pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium(*args, profile):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={profile}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def screenshot(page, png, profile):
    chromium(f"--screenshot={png}", f"file://{page}", profile=profile)


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    """What Chromium shows of the report: the measurements, the screenshot's path, the written page."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary (Debian package chromium; ./run setup installs it)")
    directory = tmp_path_factory.mktemp("report")
    page = report.write(upgrade_record(), str(directory / "reports"))
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    measured_page = directory / "measured.html"
    measured_page.write_text(text.replace("</body>", MEASURE + "\n</body>"), encoding="utf-8")
    dom = chromium("--virtual-time-budget=3000", "--dump-dom", f"file://{measured_page}", profile=directory / "profile")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, f"the measuring script wrote nothing; DOM starts {dom[:500]!r}"
    png = directory / "report.png"
    screenshot(page, png, directory / "profile")
    return {"m": json.loads(html.unescape(found.group(1))), "png": png, "page": text}


def rgb(css):
    return tuple(int(part) for part in re.findall(r"\d+", css)[:3])


def reddish(css):
    red, green, blue = rgb(css)
    return red > 150 and green < 110 and blue < 110


def middle(box):
    return (box["top"] + box["bottom"]) / 2


def test_the_page_is_self_contained_and_fits_the_window(shown):
    measured = shown["m"]
    assert measured["resources"] == []  # nothing fetched
    assert measured["scrollWidth"] <= measured["viewport"][0]  # no sideways scrolling
    assert not re.search(r"<script|<link|<img|\ssrc=|\shref=|url\(", shown["page"])


def test_the_outcome_is_red_and_says_where_it_halted_above_the_fold(shown):
    measured = shown["m"]
    assert measured["outcome"]["text"] == "rolled back" and reddish(measured["outcome"]["background"])
    halted = measured["halted"]
    assert halted["text"] == "halted at stage compute on cmp02: health gate: service nova-compute inactive (dead)"
    assert reddish(halted["color"]) and halted["box"]["bottom"] < WINDOW[1] and halted["box"]["height"] > 0


def test_each_bar_is_on_its_node_row_in_time_order(shown):
    measured = shown["m"]
    rows = {label["node"]: label["box"] for label in measured["labels"] if label["node"]}
    assert list(rows) == ["region", "ctl01", "net01", "cmp01", "cmp02"]
    assert [middle(rows[node]) for node in rows] == sorted(middle(rows[node]) for node in rows)
    svg = measured["svg"]
    for bar in measured["bars"]:
        box = bar["box"]
        assert box["width"] > 0 and box["height"] > 0, bar
        assert svg["left"] <= box["left"] and box["right"] <= svg["right"] + 0.5, bar
        assert abs(middle(box) - middle(rows[bar["node"]])) < box["height"] / 2, bar
    lefts = [bar["box"]["left"] for bar in measured["bars"]]
    assert lefts == sorted(lefts)
    canary, halted = (next(bar for bar in measured["bars"] if bar["node"] == node) for node in ("cmp01", "cmp02"))
    assert canary["box"]["right"] <= halted["box"]["left"] + 1


def test_bars_are_placed_and_sized_by_wall_time(shown):
    measured = shown["m"]
    axis = measured["axis"]
    scale = axis["width"] / 812.4
    controller = next(bar for bar in measured["bars"] if bar["step"] == "04-controller")
    assert controller["box"]["left"] == pytest.approx(axis["left"] + 85.5 * scale, abs=1.5)
    assert controller["box"]["width"] == pytest.approx(287.3 * scale, abs=1.5)
    assert "controller" in controller["text"] and "4 min 47 s" in controller["text"]


def test_the_failed_step_is_red_and_the_others_green(shown):
    bars = shown["m"]["bars"]
    failed = [bar for bar in bars if "failed" in bar["classes"].split()]
    assert [(bar["node"], bar["stage"]) for bar in failed] == [("cmp02", "compute")]
    assert reddish(failed[0]["fill"])
    for bar in bars:
        if bar is not failed[0]:
            red, green, _ = rgb(bar["fill"])
            assert green > red, bar


def test_outages_are_translucent_bands_over_the_nodes_and_bars_on_service_rows(shown):
    measured = shown["m"]
    axis, scale = measured["axis"], measured["axis"]["width"] / 812.4
    rows = {label["node"]: label["box"] for label in measured["labels"] if label["node"]}
    services = {label["service"]: label["box"] for label in measured["labels"] if label["service"]}
    assert list(services) == ["keystone", "neutron", "nova"]
    assert min(middle(box) for box in services.values()) > max(middle(box) for box in rows.values())
    bands = [band for band in measured["bands"] if band["service"] == "keystone"]
    assert len(bands) == 2 and all(float(band["opacity"]) < 0.5 for band in bands)
    assert bands[0]["box"]["left"] == pytest.approx(axis["left"] + 140 * scale, abs=1.5)
    assert bands[0]["box"]["top"] <= rows["region"]["top"] and bands[0]["box"]["bottom"] >= rows["cmp02"]["bottom"] - 2
    nova = [window for window in measured["windows"] if window["service"] == "nova"]
    assert len(nova) == 2 and all(reddish(window["fill"]) for window in nova)
    assert all(abs(middle(window["box"]) - middle(services["nova"])) < window["box"]["height"] / 2 for window in nova)
    assert nova[1]["box"]["right"] == pytest.approx(axis["right"], abs=1.5)  # still open: to the run's end


def test_the_tables_show_limits_versions_gates_and_the_rollback(shown):
    sections = shown["m"]["sections"]
    assert re.search(r"nova\s.*\b2\s.*1 min 36 s.*1 min 02 s.*30\.0 s.*over the limit", sections["outages"])
    assert re.search(r"keystone\s.*\b2\s.*7\.0 s.*5\.0 s.*1 min 00 s.*yes", sections["outages"])
    assert "2:26.2.1-1~deb12u1\t→\t2:26.2.2-1~deb12u1" in sections["versions"]
    assert "service nova-compute\tfailed\tinactive (dead) since 03:17:44; 3 restarts" in sections["steps"]
    assert "test-r1-20261203T031855Z" in sections["rollback"] and "deployed" in sections["rollback"]


HOSTILE = "<script>document.title='pwned'</script>"
NODE = 'cmp"03\'><img src=x onerror="document.title=1">'


class Tags(html.parser.HTMLParser):
    """The elements of a page and the text of each one named by ``data-node``, as a browser dumped them."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self._open = [], {}, []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._open.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for tag, attrs in self._open:
            if tag in ("h1", "title", "text"):
                self.text[(tag, attrs.get("data-node"))] = self.text.get((tag, attrs.get("data-node")), "") + data


def test_hostile_values_stay_text_in_the_browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("no chromium binary (Debian package chromium; ./run setup installs it)")
    run = upgrade_record()
    run["release"] = HOSTILE
    run["halted"]["reason"] = f"{HOSTILE} & \"quoted\"\n<b>second line</b>"
    run["steps"].append({"id": "08-x", "stage": HOSTILE, "targets": [NODE], "started": at(800), "seconds": 5,
                         "result": False, "comment": HOSTILE, "gate": {NODE: [{"name": NODE, "ok": False}]}})
    page = report.write(run, str(tmp_path))
    dom = Tags(chromium("--virtual-time-budget=2000", "--dump-dom", f"file://{page}", profile=tmp_path / "profile"))
    assert not {"script", "img", "b"} & set(dom.tags)
    assert dom.text[("title", None)].startswith("rolled back: release <script>")  # not 'pwned' nor '1'
    assert dom.text[("h1", None)] == f"Release {HOSTILE} on test"
    assert dom.text[("text", NODE)] == NODE  # the row label inside the SVG


def png_rows(path):
    """The PNG's size and its filtered scanlines (no unfiltering: enough to tell a blank image)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, size, idat = 8, None, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            size = (width, height)
            pixel = {2: 3, 6: 4, 0: 1, 4: 2}[colour] * depth // 8
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + size[0] * pixel
    return size, [raw[row * stride:(row + 1) * stride] for row in range(size[1])]


def test_the_screenshot_is_a_png_of_a_drawn_page(shown):
    size, rows = png_rows(shown["png"])
    assert size == WINDOW
    assert len(set(rows)) > 50  # a single colour gives the same scanline over and over
    assert len(set(b"".join(rows[::25]))) > 64  # and few byte values


def main(argv):
    """Write the example screenshot of :func:`upgrade_record`'s report."""
    target = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join("bench", "results", "report-example.png"))
    if CHROMIUM is None:
        sys.exit("no chromium binary: apt-get install chromium")
    with tempfile.TemporaryDirectory() as directory:
        page = report.write(upgrade_record(), directory)
        screenshot(page, target, os.path.join(directory, "profile"))
    print(target)


if __name__ == "__main__":
    main(sys.argv)
