"""The results page (index.html) and the grid summary, from a small real grid: self-contained, every
table and figure present, and — in a real headless browser — rendered without a console error, with
sortable columns."""
import re
import shutil

import pytest
from click.testing import CliRunner

from gdw_bench.cli import cli

PROFILE_ARGS = []  # the run the small grid stored (mini at 3 epochs, seeds 1, 10, 100): read back, no --set


@pytest.fixture(scope="module")
def report_dir(small_grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    outcome = CliRunner().invoke(cli, ["report", *PROFILE_ARGS, "--results-dir", str(small_grid), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    # stderr holds only what the user must know (figures without records yet): no library noise such
    # as the PDF backend's font-timestamp warnings
    assert all("no records to draw yet" in line for line in outcome.stderr.splitlines()), outcome.stderr
    return out


def test_the_page_is_self_contained_and_holds_every_table_figure_and_the_summary(report_dir):
    page = (report_dir / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page), "the page must need no network"
    assert "<link" not in page and "@import" not in page
    for key in "2345678":
        assert f'id="table{key}"' in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert {"table2_curves", "weight_vs_loss", "cd_diagram"} <= set(images)
    assert len(re.findall(r"<figcaption>", page)) == len(images)
    assert 'id="summary"' in page and "W / T / L" in page and "Provenance" in page
    # the paper's value beside ours, stand-in columns marked
    assert "cifar10→digits 40 % uniform paper" in page and 'class="standin"' in page


def test_the_summary_ranks_every_method_and_prices_it_against_basemodel(small_grid, tmp_path):
    outcome = CliRunner().invoke(cli, ["report", "--summary", *PROFILE_ARGS, "--results-dir", str(small_grid),
                                       "--out", str(tmp_path)])
    assert outcome.exit_code == 0, outcome.output
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in outcome.output.splitlines() if line.startswith("| ") and "method" not in line}
    assert set(rows) == {"BaseModel", "Fine-tuning", "MWNet", "GDW"}
    assert rows["BaseModel"][-1] == "1.0×"
    ranks = [float(r[0]) for r in rows.values()]
    assert abs(sum(ranks) / len(ranks) - 2.5) < 1e-9  # mean of ranks 1..4 over the same two columns
    for row in rows.values():  # every pair meets in 2 columns: 3 opponents × 2 columns outcomes each
        assert sum(int(v) for v in row[2].split(" / ")) == 6
    assert (tmp_path / "summary.md").exists() and (tmp_path / "cd_diagram.png").stat().st_size > 1000


def _chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.mark.skipif(None in _chromium(), reason="Debian's chromium and chromium-driver are not installed "
                                                "(.ci/run installs them)")
def test_the_page_renders_in_headless_chromium_and_sorts_a_column(report_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    browser, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get((report_dir / "index.html").as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        images = driver.find_elements(By.TAG_NAME, "img")
        assert images and all(driver.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)
        table = driver.find_element(By.CSS_SELECTOR, "#table2 table.sortable")
        headers = table.find_elements(By.CSS_SELECTOR, "thead th")
        position = [h.text for h in headers].index("cifar10→digits 40 % uniform")  # ours, not the paper's
        header = headers[position]
        column = lambda: [float(re.match(r"[-\d.]+", td.text).group()) for td in  # noqa: E731
                          table.find_elements(By.CSS_SELECTOR, f"tbody tr td:nth-child({position + 1})")
                          if td.text[:1].isdigit()]
        header.click()
        ascending = column()
        assert len(ascending) == 4 and ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
        header.click()
        assert column() == sorted(ascending, reverse=True)
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(f"index.html rendered in {driver.capabilities.get('browserVersion')}: {len(images)} figures, "
              f"column sorted ascending {ascending} then descending")
    finally:
        driver.quit()
