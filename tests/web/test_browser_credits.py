"""Credits in Chromium (issue 19): a batch bigger than the balance, the header's counter, a new
team's first step, and moving credits between two workspaces one owns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts import services as accounts
from billing.models import LedgerEntry
from billing.selectors import balance_for
from cutout.jobs.sweeps import jobs_resume_waiting
from cutout.models import Job, JobItem
from tests.factories import grant, set_credits, signed_up
from tests.web.browsing import shot, signed_in
from tests.web.images import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _files(count: int) -> list[dict[str, Any]]:
    """``count`` different photos (the same bytes twice would be a free repeat)."""
    return [
        {
            "name": f"shot-{n}.jpg",
            "mimeType": "image/jpeg",
            "buffer": photo_jpeg(("plant", "mug", "ball")[n % 3], (320, 240), seed=100 + n),
        }
        for n in range(count)
    ]


def test_batch_bigger_than_the_balance_runs_what_it_can_and_resumes(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=3)
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + "/app/")
    expect(page.locator("#credits-available")).to_have_text("3")

    # Five images, three credits: both figures, and the offer to run three now.
    page.locator("#file-input").set_input_files(_files(5))
    offer = page.locator("#batch-summary")
    expect(offer).to_contain_text("needs 5 credits; the workspace has only 3")
    expect(offer).not_to_contain_text("none left")
    assert not Job.objects.exists() and balance_for(person.workspace).balance == 3
    button = page.get_by_role("button", name="Process 3 now, 2 wait for credits")
    shot(page, artifacts_dir, "batch-offer")
    button.click()

    # Three are made (one credit each), two wait; the header follows without a reload.
    expect(page.locator("#batch-summary")).to_contain_text("2 waiting for credits", timeout=60_000)
    expect(page.locator(".queue-item[data-state='done']")).to_have_count(3)
    expect(page.locator(".queue-item[data-state='waiting']")).to_have_count(2)
    expect(page.locator("#credits-available")).to_have_text("0")
    expect(page.locator("#credits-word")).to_have_text("credits")
    job = Job.objects.get()
    assert job.status == Job.Status.WAITING
    assert balance_for(person.workspace).balance == 0
    waiting = JobItem.objects.filter(job=job, status=JobItem.Status.WAITING)
    assert waiting.count() == 2 and all(item.input for item in waiting)

    # The batch page says so and offers the way out; the ZIP holds what is done so far.
    page.get_by_role("link", name="Open batch page").click()
    expect(page.locator("#waiting-notice")).to_contain_text("2 images waiting for credits")
    expect(page.locator("#count-waiting")).to_have_text("2")
    expect(page.locator("#zip-link")).to_be_visible()
    shot(page, artifacts_dir, "batch-waiting")
    page.get_by_role("button", name="Resume now").click()
    expect(page.get_by_text("No credits are available yet")).to_be_visible()

    # A grant, then the beat's resume: the two run, and the page sees it by itself.
    grant(person.workspace, 2)
    assert jobs_resume_waiting() == 2
    expect(page.locator("#count-done")).to_have_text("5", timeout=30_000)
    expect(page.locator("#waiting-notice")).to_be_hidden()
    expect(page.locator("#batch-state")).to_have_text("Finished.")
    expect(page.locator("#credits-available")).to_have_text("0")
    job.refresh_from_db()
    assert job.status == Job.Status.DONE
    assert balance_for(person.workspace).balance == 0  # 3 + 2 granted, 5 used: exact
    debits = LedgerEntry.objects.filter(workspace=person.workspace, kind="debit")
    assert debits.count() == 5


def test_header_counter_follows_a_batch(live_server: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=10)
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + "/app/")
    page.locator("#file-input").set_input_files(_files(3))
    expect(page.locator("#batch-summary")).to_contain_text("Batch finished", timeout=60_000)
    expect(page.locator("#credits-available")).to_have_text("7")
    assert balance_for(person.workspace).available == 7


def test_new_team_starts_with_an_add_credits_step_and_takes_a_transfer(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    person = signed_up(credits=20)
    page = signed_in(browser, live_server.url, person.user, person.workspace)
    page.goto(live_server.url + "/workspaces/")
    page.get_by_label("Team name").fill("Studio North")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(live_server.url + "/team/")
    team = person.user.memberships.get(workspace__name="Studio North").workspace
    # Not a red "out of credits" warning: a first step.
    expect(page.locator("#no-credits-banner")).to_have_count(0)
    expect(page.locator("#add-credits-banner")).to_contain_text("Add credits to start")
    page.locator("#add-credits-banner a").click()
    expect(page.locator("#add-credits-step")).to_be_visible()
    expect(page.locator("#low-balance")).to_have_count(0)
    shot(page, artifacts_dir, "team-add-credits")

    form = page.locator("#transfer-form")
    expect(form.get_by_label("From")).to_have_value(str(person.personal.pk))
    expect(form.get_by_label("To")).to_have_value(str(team.pk))
    form.get_by_label("Credits").fill("8")
    form.get_by_role("button", name="Move credits").click()
    expect(
        page.get_by_text(f"Moved 8 credits from {person.personal.name} to Studio North.")
    ).to_be_visible()
    expect(page.locator("#credits-available")).to_have_text("8")
    expect(page.locator("#add-credits-banner")).to_have_count(0)
    expect(page.locator("#ledger")).to_contain_text(f"From {person.personal.name}")
    assert balance_for(team).balance == 8 and balance_for(person.personal).balance == 12
    # More than the source has: refused, nothing moves.
    page.goto(live_server.url + "/billing/")
    form.get_by_label("From").select_option(str(person.personal.pk))
    form.get_by_label("To").select_option(str(team.pk))
    form.get_by_label("Credits").fill("50")
    form.get_by_role("button", name="Move credits").click()
    expect(
        page.get_by_text("Credits not moved: Not enough credits: 50 needed, 12 available.")
    ).to_be_visible()
    assert balance_for(team).balance == 8 and balance_for(person.personal).balance == 12
    shot(page, artifacts_dir, "billing-transfer")


def test_only_an_owner_of_both_sees_and_moves(live_server: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    owner = signed_up(credits=5)
    team = accounts.workspace_create(name="Owned elsewhere", owner=owner.user)
    member = signed_up(credits=5)
    accounts.membership_add(workspace=team, user=member.user)
    set_credits(team, 3)
    page = signed_in(browser, live_server.url, member.user, team)
    page.goto(live_server.url + "/billing/")
    expect(page.locator("#transfer-form")).to_have_count(0)
    # A forged form is refused as well (the member owns only their personal workspace).
    status = page.evaluate(
        """async ([team, personal]) => {
            const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const body = new URLSearchParams({source: team, target: personal, amount: "3",
                token: "forged", csrfmiddlewaretoken: csrf});
            const r = await fetch("/billing/transfer", {method: "POST", body, redirect: "follow"});
            return r.status;
        }""",
        [str(team.pk), str(member.personal.pk)],
    )
    assert status == 200
    assert balance_for(team).balance == 3 and balance_for(member.personal).balance == 5
