"""Dagster's UI driven by headless Chromium through Playwright, clicking as a person would; shared by the browser
test and the README screenshot script.

The browser is Debian's Chromium (`/usr/bin/chromium`), never a downloaded one, with a fresh profile per session.
Every flow is a named step that waits for what a person would look for (Playwright's auto-waiting locators and
`expect`, which poll); when it does not show, `UIStepError` names the step and the screenshot taken of the page.

Selectors are the UI's visible text and ARIA roles (Dagster's production build renders no test ids). Those
relying on details of Dagster 1.13's markup are marked FRAGILE.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1440, "height": 900}
# Generous: on two cores the browser shares the CPU with the webserver, the daemon, the code server and a run.
UI_TIMEOUT_MS = 60_000
REFRESH_EVERY_MS = 10_000
# Dagster's "Join the Dagster community" dialog opens on localhost a second after load and would cover whatever
# is clicked next; this is the flag its Skip button stores.
_NUX_DISMISSED = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"


# FRAGILE: the toasts' region (sonner's), e.g. "Created backfill ..." which stays until dismissed.
_HIDE_TOASTS = '[aria-label^="Notifications"] { display: none !important; }'


class UIStepError(AssertionError):
    """A UI step whose expected state did not show; an AssertionError so pytest reports a failure."""


@contextmanager
def chromium_page(profile_dir: Path) -> Iterator[Page]:
    """A page of headless Chromium at VIEWPORT with a fresh profile in `profile_dir`; closed on exit."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            timezone_id="UTC",  # the partitions are UTC weeks; timestamps in pictures read the same everywhere
            locale="en-US",
        )
        try:
            context.add_init_script(_NUX_DISMISSED)
            context.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)  # expect's own default is 5 s
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def asset_label(asset: Sequence[str]) -> str:
    """How the UI writes an asset key: 'oid / level / pi_160078'."""
    return " / ".join(asset)


def _prefix_name(text: str) -> re.Pattern[str]:
    """An accessible name starting with `text`. FRAGILE: Dagster's truncating labels repeat their text in a hidden
    measuring element and icons add their names ('asset_group level level'), so names are matched by prefix."""
    # Slashes escaped: Playwright serializes a pattern as /source/ and would read an asset key's '/' as its end.
    return re.compile(rf"^{re.escape(text)}(\s|$)".replace("/", r"\/"))


@dataclass
class DagsterUI:
    """One browser page on one Dagster webserver; screenshots go to `shots`."""

    page: Page
    base_url: str
    shots: Path
    log: Callable[[str], None] = print
    taken: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)

    # ---------- plumbing ----------

    def shot(self, name: str, path: Path | None = None, *, clean: bool = False) -> Path:
        """Screenshot the viewport to `path` (default: `shots/name.png`); `clean` leaves toasts out of it."""
        path = path or self.shots / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if clean:  # and no hover highlight where the last click left the mouse: park it on the page's header
            self.page.mouse.move(VIEWPORT["width"] // 2, 12)
        self.page.screenshot(path=str(path), style=_HIDE_TOASTS if clean else None)
        self.taken.append(path)
        self.log(f"screenshot: {path}")
        return path

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one step; if anything in it fails, screenshot the page and fail naming the step."""
        try:
            yield
        except (PlaywrightError, AssertionError) as error:
            if isinstance(error, UIStepError):
                raise
            try:
                where = str(self.shot(f"FAILED-{re.sub(r'[^A-Za-z0-9]+', '-', name).strip('-')}"))
            except PlaywrightError as shot_error:
                where = f"(no screenshot: {shot_error})"
            detail = str(error).strip().splitlines()
            raise UIStepError(
                f"UI step {name!r} failed at {self.page.url}: {' | '.join(detail[:6])}\nscreenshot: {where}"
            ) from error

    def _until_visible(self, locator: Locator, timeout_ms: int, refresh: Callable[[], None]) -> None:
        """Wait for `locator` on a page that does not update by itself: refresh it, as a person would, every
        REFRESH_EVERY_MS until it shows or `timeout_ms` is spent (then fail as `expect` does)."""
        waited = 0
        while True:
            try:
                expect(locator).to_be_visible(timeout=min(REFRESH_EVERY_MS, timeout_ms - waited))
                return
            except AssertionError:
                waited += REFRESH_EVERY_MS
                if waited >= timeout_ms:
                    raise
                refresh()

    def _nav(self, name: str) -> None:
        self.page.get_by_role("navigation").get_by_role("link", name=re.compile(rf"{name}$")).click()

    # ---------- the asset graph ----------

    def open_asset_graph(self, groups: Sequence[str]) -> None:
        """The global asset lineage, every group collapsed into a node, their statuses loaded."""
        with self.step("open the asset graph and find the series groups"):
            if not self.page.url.startswith(self.base_url):
                self.page.goto(self.base_url)
            self._nav("Lineage")
            expect(self.page.get_by_text("Global asset lineage")).to_be_visible()
            graph = self.page.locator("svg foreignObject")  # FRAGILE: graph nodes are HTML in SVG foreignObjects
            for group in groups:
                expect(graph.get_by_text(group, exact=True), f"group node {group!r}").to_be_visible()
            # Every group's status: the slowest part of the page, queried for all 365 assets.
            expect(self.page.get_by_text("(fetching statuses)")).to_have_count(0, timeout=2 * UI_TIMEOUT_MS)

    def filter_to_group(self, group: str) -> None:
        """Right-click the group in the sidebar > Filter to this group: the group's assets, nothing selected."""
        with self.step(f"filter the asset graph to the {group} group"):
            self.page.get_by_role("button", name=_prefix_name(f"asset_group {group}")).click(button="right")
            self.page.get_by_role("menuitem", name=re.compile("Filter to this group")).click()
            expect(self.page).to_have_url(re.compile(rf"group%3A%22{re.escape(group)}%22"))
            expect(self.page.get_by_role("button", name=re.compile(r"Materialize all"))).to_be_visible()

    def open_partitions(self, asset: Sequence[str]) -> None:
        """From the group's graph: the series in the sidebar, then its node's "N% filled" link."""
        name = asset[-1]
        with self.step(f"find the series asset {asset_label(asset)} in the graph"):
            # The sidebar row's icon is the asset's status ('missing', ...), hence any first word.
            self.page.get_by_role("button", name=re.compile(rf"^\S+ {re.escape(name)}(\s|$)")).click()
            node = self.page.locator("svg foreignObject").filter(has=self.page.get_by_text(name, exact=True))
            expect(node.get_by_text(re.compile(r"^\d+ partitions$"))).to_be_visible()
        with self.step(f"open the partitions of {asset_label(asset)}"):
            node.get_by_role("link", name=re.compile(r"% filled")).click()
            expect(self.page).to_have_url(re.compile(r"[?&]view=partitions"))
            expect(self.page.get_by_role("tab", name="Partitions", exact=True)).to_have_attribute(
                "aria-selected", "true"
            )
            # The status filters' labels (their checkboxes are styled, hidden inputs) count the partitions.
            expect(self.page.get_by_text(re.compile(r"^Materialized \(\d+\)$"))).to_be_visible()

    # ---------- the backfill ----------

    def launch_backfill(self, group: str, weeks: Sequence[str], n_assets: int) -> str:
        """Lineage > the group > Materialize all > choose the weeks > Launch backfill; returns the backfill id.

        `weeks` must be consecutive partitions: they are typed as a range, as the dialog's input takes them.
        """
        with self.step("back to the asset graph"):
            self._nav("Lineage")
            expect(self.page.get_by_text("Global asset lineage")).to_be_visible()
        self.filter_to_group(group)
        dialog = self.page.get_by_role("dialog")
        with self.step(f"open the backfill dialog for the {n_assets} assets of {group}"):
            self.page.get_by_role("button", name=re.compile(r"Materialize all")).click()
            expect(dialog.get_by_text(f"Launch runs to materialize {n_assets} assets")).to_be_visible()
            expect(dialog.get_by_text("Partition selection")).to_be_visible()
        with self.step(f"choose the partitions {', '.join(weeks)}"):
            selection = dialog.get_by_role("textbox").first  # FRAGILE: the only text input of the open dialog
            selection.click()
            selection.fill(f"[{weeks[0]}...{weeks[-1]}]" if len(weeks) > 1 else weeks[0])
            selection.press("Enter")  # the input commits on Enter (or blur)
            expect(dialog.get_by_text(f"{len(weeks)} partitions", exact=True)).to_be_visible()
            launch = dialog.get_by_role("button", name="Launch backfill")
            expect(launch).to_be_enabled()
            self.shot("backfill-dialog")
        with self.step("launch the backfill"):
            launch.click()
            toast = self.page.get_by_text(re.compile(r"^Created backfill\s+\w+$"))
            expect(toast).to_be_visible()
            backfill_id = toast.inner_text().split()[-1]
        self.log(f"backfill {backfill_id} launched from the UI")
        return backfill_id

    def open_backfill(self, backfill_id: str) -> None:
        """The toast's View button: the backfill's page, with its assets."""
        with self.step(f"open the backfill {backfill_id}"):
            self.page.get_by_role("link", name="View", exact=True).click()
            expect(self.page).to_have_url(re.compile(rf"/runs/b/{backfill_id}"))
            expect(self.page.get_by_text("Partition selection", exact=True)).to_be_visible()
            expect(self.page.get_by_role("link", name=re.compile(r"^oid \/ ")).first).to_be_visible()

    def backfill_status(self) -> Locator:
        # FRAGILE: the value next to the "Status" label of the backfill's overview.
        return self.page.get_by_text("Status", exact=True).locator("xpath=following-sibling::div[1]")

    def wait_for_backfill(self, backfill_id: str, timeout_s: float) -> None:
        """Until the backfill page (which refreshes itself) says Succeeded."""
        with self.step(f"wait for backfill {backfill_id} to succeed"):
            expect(self.backfill_status()).to_have_text("Succeeded", timeout=int(timeout_s * 1000))
            self.shot("backfill-succeeded")

    # ---------- an asset's partitions and checks ----------

    def assert_partitions_materialized(self, asset: Sequence[str], weeks: Sequence[str], timeout_s: float) -> None:
        """From the backfill page: the series' Partitions tab counts the weeks materialized, and each week's
        detail says Materialized, with the points written."""
        label = asset_label(asset)
        with self.step(f"open {label} from the backfill"):
            self.page.get_by_role("link", name=_prefix_name(label)).first.click()
            self.page.get_by_role("tab", name="Partitions", exact=True).click()
            expect(self.page).to_have_url(re.compile(r"[?&]view=partitions"))
        with self.step(f"see {len(weeks)} weeks of {label} materialized"):
            self._until_visible(
                self.page.get_by_text(f"Materialized ({len(weeks)})", exact=True),
                int(timeout_s * 1000),
                self._refresh_asset_page,
            )
        for week in sorted(weeks):  # the newest week last: it stays selected for the screenshot
            with self.step(f"see the week {week} of {label} materialized"):
                self.page.locator(f'[title="{week}"]').first.click()  # FRAGILE: the list row's truncating label
                expect(self.page).to_have_url(re.compile(rf"[?&]partition={week}"))
                expect(self.page.get_by_text("Materialized", exact=True)).to_be_visible()
                expect(self.page.get_by_role("cell", name="oid_sync/points_written", exact=True)).to_be_visible()
        self.shot("partitions")

    def assert_checks_passed(self, asset: Sequence[str], check: str, weeks: Sequence[str], timeout_s: float) -> None:
        """The series' Checks tab: `check`'s execution history has a Passed evaluation for each week."""
        label = asset_label(asset)
        with self.step(f"open the {check} check of {label}"):
            self.page.get_by_role("tab", name="Checks", exact=True).click()
            expect(self.page.get_by_text(check, exact=True).first).to_be_visible()
            self.page.get_by_role("tab", name="Execution history", exact=True).click()
        for week in weeks:
            with self.step(f"see the {check} check of {label} passed for {week}"):
                row = self.page.get_by_role("row").filter(has=self.page.get_by_role("cell", name=week, exact=True))
                self._until_visible(row.first, int(timeout_s * 1000), self._refresh_asset_page)
                expect(row.first.get_by_role("cell").first).to_have_text(re.compile(r"Passed"))
        self.shot("checks")

    def _refresh_asset_page(self) -> None:
        # The asset page's own refresh button, as a person would press it (the page does not poll everything).
        self.page.get_by_role("button", name="refresh", exact=True).first.click()

    # ---------- the realtime asset ----------

    def open_metadata_plots(self, asset: Sequence[str], plot: str) -> None:
        """The asset's overview > Metadata > Plots, scrolled so that `plot` is at the top."""
        label = asset_label(asset)
        with self.step(f"open the metadata plots of {label}"):
            self.page.goto(f"{self.base_url}/assets/{'/'.join(asset)}")
            self.page.get_by_role("button", name=re.compile(r"Plots$")).click()
            title = self.page.get_by_text(plot, exact=True)
            expect(title).to_be_visible()
            title.evaluate("element => element.scrollIntoView({block: 'start'})")
            # A plot is a chart.js canvas drawn without animation; wait until the plots below it have sized.
            expect(self.page.locator("canvas").first).to_be_visible()
