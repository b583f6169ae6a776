"""How the built smoke book renders, in headless Chromium (Debian package `chromium`).

`make test` builds the smoke book into _build/smoke/html first, then runs these with `-m book`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pihlib.reproduction import experiment, presets

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("PIH_BOOK_HTML", ROOT / "_build" / "smoke" / "html")).resolve()
PAGES = {"intro": "book/intro.html", "metric_selection": "book/generated/01_metric_selection.html"}


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium")
    return path


@pytest.fixture(scope="module")
def html() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML}: build it with `python -m pihlib.reproduction build "
                    "--preset smoke --dest _build/smoke` (make test does)")
    return HTML


def render(chromium: str, url: str, tmp: Path) -> tuple[Image.Image, str, list[str]]:
    """Screenshot, rendered DOM and the URLs the page itself requested."""
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
              f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=8000", "--window-size=1280,2400"]
    net = tmp / "net.json"
    shot = tmp / "shot.png"
    subprocess.run([*common, f"--log-net-log={net}", f"--screenshot={shot}", url], capture_output=True,
                   timeout=120, check=True)
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    requested = []
    for event in json.loads(net.read_text())["events"]:
        p = event.get("params", {})
        # requests of the page (a file: origin shows as "null"); Chromium's own have no origin
        if "url" in p and (p.get("initiator") == "null" or str(p.get("initiator", "")).startswith("file:")):
            requested.append(p["url"])
    return Image.open(shot).convert("L"), dom, requested


def measure(chromium: str, url: str, width: int, script: str, tmp: Path) -> object:
    """``script``'s value (JSON) for the page at ``url`` laid out ``width`` CSS pixels wide: the page in a
    frame of that width, read once loaded (a JavaScript function body of the frame's document ``d``)."""
    page = tmp / "measure.html"
    page.write_text(f"""<html><body style="margin:0"><iframe id="f" src="{url}"
        style="width:{width}px;height:2400px;border:0"></iframe><pre id="out">pending</pre><script>
        document.getElementById("f").onload = function () {{
          var d = this.contentDocument;
          document.getElementById("out").textContent = JSON.stringify((function (d) {{ {script} }})(d));
        }};</script></body></html>""")
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
               "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
               "--virtual-time-budget=8000", "--window-size=1400,1000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    out = unescape(re.search(r'<pre id="out">(.*?)</pre>', dom, flags=re.S).group(1))
    assert out != "pending", f"{url} did not load"
    return json.loads(out)


# the line every page ends with (pihlib.reproduction.book.stamp)
STAMP = re.compile(r"Built (\d{4}-\d\d-\d\d \d\d:\d\d) UTC from commit (\S+)( \(with uncommitted changes\))? "
                   r"at the (\w+) preset")


COLUMN_PX = 660  # as in tests/test_book_build.py
PHONE_PX = 342  # likewise, in a 390-pixel window: less the page's and the figure's padding


def pages(html: Path) -> list[Path]:
    """The book's pages (not the redirect Jupyter Book writes as index.html)."""
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts
                  and 'http-equiv="Refresh"' not in p.read_text())


def off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if not re.match(r"(file|data|blob|about|chrome):", u)
            and not re.match(r"https?://(localhost|127\.0\.0\.1)[:/]", u)]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders_offline(page, chromium, html, tmp_path):
    shot, dom, requested = render(chromium, (html / PAGES[page]).as_uri(), tmp_path)
    pixels = np.asarray(shot, dtype=float)
    assert pixels.std() > 20, "the page is blank"
    assert off_machine(requested) == [], f"requests off the machine: {off_machine(requested)}"
    text = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    assert not re.search(r"\$\$|\\frac|\\sum|\\mathrm", text), "raw TeX on the page"
    if page == "intro":
        assert "mjx-container" in dom, "MathJax did not typeset the formula"
        assert "Paper vs. reproduction" in text
        verdicts = re.search(r'<table[^>]*id="table-verdicts".*?</table>', dom, flags=re.S)
        assert verdicts, "the introduction's verdict table is missing"
        cells = re.sub(r"<[^>]+>", " ", verdicts.group(0))
        words = re.findall(r"\b(reproduced|partly|not distinguishable|not tested|not compared)\b", cells)
        assert len(words) >= 10, f"every row needs a computed verdict: {cells[:300]}"
        assert "Table 2: PIH" in cells and "Fig. 4" in cells
    assert STAMP.search(re.sub(r"\s+", " ", text)), "the page does not say when, from what, how it was built"


def test_metric_selection_figures_are_present_and_not_blank(html):
    page = (html / PAGES["metric_selection"]).read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 2, "Fig. 3 and Table 1 should be there"
    for src in images:
        with Image.open((html / PAGES["metric_selection"]).parent / src) as im:
            pixels = np.asarray(im.convert("L"), dtype=float)
        assert pixels.std() > 10 and im.size[0] > 300, src
    assert "Provenance" in page and "CIFAR-10 train (npz" in page
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, flags=re.S)
    assert len(captions) >= 2, "Fig. 3 and Table 1 need captions"
    fig3 = next(c for c in captions if "inversion ratio" in c)
    assert "Book figure" in fig3 and "50 %" in fig3 and "{glue" not in fig3
    assert "95 % confidence" in fig3 and "one SD" not in fig3  # the bands the figure draws


def test_the_rerun_page_states_the_presets_sizes(html):
    """The sizes on the Rerun page are glued from the presets, not typed."""
    from pihlib.reproduction import summary

    page = re.sub(r"<[^>]+>", " ", (html / "book" / "rerun.html").read_text())
    text = re.sub(r"\s+", " ", unescape(page))
    for name, value in summary.book_values().items():
        if name.startswith("size_"):
            assert value in text, name


def test_the_checker_sees_an_off_machine_request(chromium, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><p>x</p><img src="https://cdn.example.org/x.png"></body></html>')
    _, _, requested = render(chromium, bad.as_uri(), tmp_path)
    assert off_machine(requested) == ["https://cdn.example.org/x.png"]


def test_every_glued_value_is_read(html):
    """No dead glue: each value a notebook glues is read by a page or by a caption."""
    generated = html.parent / "src" / "book" / "generated"
    glued = set()
    for nb in generated.glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                if "scrapbook" in out.get("metadata", {}):
                    glued.add(f"{nb.stem}::{out['metadata']['scrapbook']['name']}")
    read = set()
    for page in (ROOT / "book").glob("*.md"):
        read |= {f"{n}::{k}" for n, k in re.findall(r"generated/(\w+)\.ipynb::(\w+)", page.read_text())}
    for source in (ROOT / "notebooks").glob("*.py"):
        captions = re.findall(r"\{glue:(?:text|figure)\}`?\s*(\w+)", source.read_text())
        read |= {f"{source.stem}::{k}" for k in captions}
    assert glued, f"no executed notebooks in {generated}"
    assert sorted(glued - read) == []


def test_every_page_says_when_from_which_commit_and_at_which_preset_it_was_built(html):
    intro = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", (html / PAGES["intro"]).read_text()))
    preset = re.search(r"This build ran at the (\w+) preset", intro).group(1)
    stamps = set()
    for page in pages(html):
        footer = re.search(r'<p class="pih-stamp">(.*?)</p>', page.read_text(), flags=re.S)
        assert footer, f"{page.relative_to(html)} has no stamp"
        stamps.add(unescape(re.sub(r"<[^>]+>", "", footer.group(1))))
    assert len(stamps) == 1, stamps  # one build, one stamp
    when, commit, _, stamped = STAMP.match(stamps.pop()).groups()
    assert stamped == preset and stamped in presets.PRESETS
    built = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert built <= datetime.now(UTC)
    assert re.fullmatch(r"[0-9a-f]{12}|unknown", commit) or os.environ.get("PIH_GIT_COMMIT"), commit


def test_the_verdict_table_reads_on_a_phone(chromium, html, tmp_path):
    """390 CSS pixels wide: nothing of the table is cut off or scrolled, and only the verdicts are bold."""
    got = measure(chromium, (html / PAGES["intro"]).as_uri(), 390, """
        var t = d.getElementById("table-verdicts"), box = t.parentElement;
        var bold = function (e) { return parseInt(getComputedStyle(e).fontWeight) >= 600; };
        var why = Array.from(t.querySelectorAll("tbody td:nth-child(2) span.pasted-text"))
            .filter(function (e) { return !e.closest("strong"); });
        return {page: d.documentElement.scrollWidth, table: t.getBoundingClientRect().right,
                box: [box.scrollWidth, box.clientWidth], columns: t.rows[0].cells.length,
                reasons: why.length, bold_reasons: why.filter(bold).length,
                verdicts: Array.from(t.querySelectorAll("tbody strong")).filter(bold).length};""", tmp_path)
    assert got["page"] <= 390 and got["table"] <= 390, got
    assert got["box"][0] <= got["box"][1], f"the table scrolls sideways: {got}"
    assert got["reasons"] >= 10 and got["bold_reasons"] == 0 and got["verdicts"] >= 10, got


def test_figures_get_the_width_their_labels_are_sized_for(chromium, html, tmp_path):
    """In a 1280-pixel window every figure is shown at least ``COLUMN_PX`` wide (or at its own size):
    the width at which tests/test_book_build.py checks that its labels read at 9 points or more."""
    shown = []
    for page in sorted((html / "book" / "generated").glob("*.html")):
        shown += measure(chromium, page.as_uri(), 1280, """
            return Array.from(d.querySelectorAll("figure img")).map(function (i) {
              return [i.getAttribute("src"), i.clientWidth, i.naturalWidth]; });""", tmp_path)
    assert len(shown) >= 8, shown  # every glued figure
    for src, width, natural in shown:
        assert natural > 0 and width >= min(natural, COLUMN_PX), (src, width, natural)


def test_fig3_gets_the_phone_width_its_labels_are_sized_for(chromium, html, tmp_path):
    """In a 390-pixel window Fig. 3 is shown ``PHONE_PX`` wide (or at its own size): the width at which
    tests/test_book_build.py checks that its labels read at 8 points or more."""
    width, natural = measure(chromium, (html / PAGES["metric_selection"]).as_uri(), 390, """
        d.documentElement.style.scrollbarWidth = "none";  // a phone's scrollbar takes no width
        var i = d.getElementById("fig-fig3").querySelector("img");
        return [i.clientWidth, i.naturalWidth];""", tmp_path)
    assert natural > 0 and width >= min(natural, PHONE_PX), (width, natural)


def test_every_figure_says_what_it_shows(html):
    """Alt text, not the image's file name."""
    missing = []
    for page in pages(html):
        for img in re.findall(r"<img\b[^>]*>", page.read_text()):
            alt, src = re.search(r'alt="([^"]*)"', img), re.search(r'src="([^"]*)"', img)
            text = alt.group(1).strip() if alt else ""
            if len(text) < 20 or text == src.group(1) or re.search(r"\.(png|svg|jpe?g)$", text):
                missing.append(f"{page.relative_to(html)}: {src.group(1)}")
    assert missing == []


# The data beside each figure and table (pihlib.reproduction.report.downloads) ----------------------

# what each page offers, whatever the build (notebook 03's gpu table and notebook 04's own-run table
# come in addition where there are committed gpu results)
DATA_LINKS = {
    "00_scramblers": {"scramblers.csv", "scramblers_figure.csv"},
    "01_metric_selection": {"fig3.csv", "fig3_peaks.csv", "ssim_channels.csv", "table1.csv"},
    "02_key_search": {"fig4.csv", "fig5.csv", "table2_pih.csv"},
    "03_classification": {"table2_accuracy.csv", "training.csv", "table3.csv"},
    "04_hiding": {"hiding_accuracy.csv", "hiding_view.csv", "hiding_figure.csv"},
    "05_attacks": {"attacks.csv"},
}
FIGURE_DATA = {"scramblers_figure.csv": "fig-scramblers", "fig3.csv": "fig-fig3", "table1.csv": "fig-table1",
               "fig4.csv": "fig-fig4", "fig5.csv": "fig-fig5", "training.csv": "fig-training",
               "hiding_figure.csv": "fig-hiding"}
OVERRIDE = r"( -p \S+ ('[^']*'|\S+))*"  # -p TARGET.NAME VALUE, the value shell-quoted where it must be
COMMAND = re.compile(rf"python -m pihlib\.reproduction compute --preset (\w+) --only (\w+){OVERRIDE} && "
                     rf"(make book PRESET=\w+|python -m pihlib\.reproduction build --preset \w+{OVERRIDE})$")


def data_links(page: str) -> list[dict]:
    """Each ``pih-data`` paragraph of a page: its download name, the CSV in its link (decoded), the
    command it names and where it stands in the page."""
    import base64

    out = []
    for m in re.finditer(r'<p class="pih-data">(.*?)</p>', page, flags=re.S):
        link = re.search(r'<a download="([^"]+)" href="data:text/csv;base64,([A-Za-z0-9+/=]+)"', m.group(1))
        code = re.findall(r"<code>(.*?)</code>", m.group(1), flags=re.S)
        out.append({"name": link.group(1) if link else None, "position": m.start(),
                    "csv": base64.b64decode(link.group(2)).decode("utf-8") if link else "",
                    "command": unescape(re.sub(r"\s+", " ", code[-1])).strip() if code else ""})
    return out


def test_every_figure_and_table_offers_its_data_and_the_command_that_recomputes_it(html):
    import csv
    import io

    for name, expected in DATA_LINKS.items():
        page = (html / "book" / "generated" / f"{name}.html").read_text()
        links = data_links(page)
        names = [link["name"] for link in links]
        assert expected <= set(names), f"{name}: {sorted(expected - set(names))} missing"
        assert len(names) == len(set(names)), names
        for link in links:
            rows = list(csv.reader(io.StringIO(link["csv"])))
            assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows), (name, link["name"])
            assert all(h.strip() for h in rows[0]), (name, link["name"], rows[0])
            match = COMMAND.match(link["command"])
            assert match, (name, link["name"], link["command"])
            assert match.group(1) in presets.PRESETS and experiment(match.group(2)).NOTEBOOK == name
        for data, figure in FIGURE_DATA.items():  # a figure's data follows it, before any other figure
            if data in names:
                at = page.index(f'id="{figure}"')
                link = next(link["position"] for link in links if link["name"] == data)
                assert at < link and "<figure" not in page[at + 10:link], (name, data)


def test_the_data_of_fig3_is_the_points_it_plots(html):
    import csv
    import io

    page = (html / PAGES["metric_selection"]).read_text()
    fig3 = next(link for link in data_links(page) if link["name"] == "fig3.csv")
    rows = list(csv.DictReader(io.StringIO(fig3["csv"])))
    assert {"metric", "unit", "inversion ratio (%)", "key (index)", "value (see unit)"} <= set(rows[0])
    assert {r["metric"] for r in rows} >= {"lpips", "psnr", "fid"}
    assert {int(r["inversion ratio (%)"]) for r in rows} >= {10, 50, 100}
    intro = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", (html / PAGES["intro"]).read_text()))
    preset = re.search(r"This build ran at the (\w+) preset", intro).group(1)
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", (html / PAGES["metric_selection"]).read_text()))
    shown = re.search(r"rest on the committed (\w+) ?-preset results", page)  # the figure's record's preset
    record_preset = shown.group(1) if shown else preset
    assert fig3["command"] == (f"python -m pihlib.reproduction compute --preset {record_preset} --only "
                               f"metric_study && make book PRESET={preset}")


def test_the_data_link_is_shown_and_downloads_a_csv(chromium, html, tmp_path):
    got = measure(chromium, (html / PAGES["metric_selection"]).as_uri(), 1280, """
        return Array.from(d.querySelectorAll("p.pih-data")).map(function (p) {
          var a = p.querySelector("a[download]"), r = p.getBoundingClientRect();
          var c = Array.from(p.querySelectorAll("code")).pop();  // the command, after the preset
          return {name: a && a.getAttribute("download"), href: a && a.href.slice(0, 21),
                  shown: r.width > 0 && r.height > 0 && getComputedStyle(p).visibility !== "hidden",
                  command: c && c.textContent, inside: r.right <= d.documentElement.clientWidth}; });""",
                  tmp_path)
    assert {g["name"] for g in got} >= DATA_LINKS["01_metric_selection"], got
    for g in got:
        assert g["shown"] and g["inside"] and g["href"] == "data:text/csv;base64,", g
        assert g["command"].startswith("python -m pihlib.reproduction compute --preset "), g


# The introduction's answer and the bibliography ------------------------------------------------------

VERDICT_WORDS = r"reproduced|not reproduced|partly|not distinguishable|not tested|not compared"


def test_the_introduction_answers_in_one_computed_sentence(html):
    page = (html / PAGES["intro"]).read_text()
    paragraphs = re.findall(r"<p>(.*?)</p>", page, flags=re.S)
    answer = next((p for p in paragraphs if "The answer, in one sentence" in p), None)
    assert answer, "the introduction's one-sentence answer is missing"
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", answer)))
    assert "{glue" not in answer and "glue:text" not in answer and "::verdict_" not in text, text
    words = re.findall(rf": ({VERDICT_WORDS}) ?[;.]", text)
    assert len(words) == 5, f"five statements, five computed verdicts: {text}"
    pasted = re.findall(r'<span class="pasted-text">(.*?)</span>', answer, flags=re.S)
    assert len(pasted) == 5 and all(re.fullmatch(VERDICT_WORDS, w.strip()) for w in pasted), pasted


def test_the_bibliography_lists_the_references_and_the_citations_link_to_it(html):
    bib = (html / "book" / "bibliography.html").read_text()
    entries = re.findall(r'<div class="citation" id="([^"]+)"', bib)
    keys = re.findall(r"^@\w+\{", (ROOT / "book" / "references.bib").read_text(), flags=re.M)
    assert len(entries) == len(keys), (len(entries), len(keys))
    listed = bib[bib.index('<div class="citation"'):]
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", listed))).lower()
    assert "madono" in text and "parameter generation to improve perceptual information hiding" in text
    assert "the unreasonable effectiveness of deep features as a perceptual metric" in text  # LPIPS
    intro = (html / PAGES["intro"]).read_text()
    cited = re.findall(r'<a class="reference internal" href="bibliography\.html#([^"]+)"', intro)
    assert len(cited) >= 10, "the introduction's citations should link to the bibliography"
    assert set(cited) <= set(entries), sorted(set(cited) - set(entries))
    first = re.search(r'href="bibliography\.html#[^"]+"[^>]*>(.*?)</a>', intro, flags=re.S)
    assert "Madono" in unescape(re.sub(r"<[^>]+>", "", first.group(1)))  # the paper, cited first
