"""Every page of the site at phone width in Chromium, and what makes it readable (issue 19).

Each page is loaded at 360 px and must not scroll sideways (``scrollWidth``); the signed-out
header keeps its links off the wordmark; badges have a 4.5:1 contrast; the library's select boxes
are targets of 24 px at least; the staff usage page tells its "Personal" workspaces apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts import services as accounts
from accounts.models import Role
from cutout import engine
from cutout.cutouts.services import cutout_create
from cutout.jobs.services import job_create
from cutout.models import Source, WebhookEndpoint
from tests.factories import grant, make_user, personal_workspace
from tests.web.browsing import CONTRAST_JS, NARROW, PHONE, scroll_width, shot, signed_in
from tests.web.conftest import photo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _seed() -> dict[str, Any]:
    """A person with the lot: a team with members, invitations, keys and a webhook; cutouts,
    a batch, credit history; long names where pages have to fit them."""
    user = make_user("maya.longername@example-company.com")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    personal = personal_workspace(user)
    team = accounts.workspace_create(name="Maya's Very Long Shop Name", owner=user)
    grant(team, 40)
    accounts.membership_add(workspace=team, user=make_user("sam.teammate@example.com"))
    accounts.invitation_create(
        workspace=team, email="invited.person@example.com", role=Role.ADMIN, invited_by=user
    )
    accounts.api_key_create(workspace=team, name="Production shop sync", created_by=user)
    # Straight to the row: no DNS here to check the URL with.
    WebhookEndpoint.objects.create(
        workspace=team, url="https://hooks.example.com/cutout/finished-jobs", created_by=user
    )
    options = engine.Options(pipeline="fast")
    cutout = cutout_create(
        workspace=team,
        data=photo("plant"),
        options=options,
        user=user,
        source=Source.WEB,
        input_name="a-rather-long-product-photo-name.jpg",
    )
    job = job_create(
        workspace=team,
        files=[("mug.jpg", photo("mug")), ("ball.jpg", photo("ball"))],
        options=options,
        user=user,
        source=Source.WEB,
    )
    return {"user": user, "team": team, "personal": personal, "cutout": cutout, "job": job}


def _signed_in_pages(seed: dict[str, Any]) -> list[str]:
    return [
        "/app/",
        "/app/library/",
        f"/app/cutouts/{seed['cutout'].pk}/",
        "/app/batches/",
        f"/app/batches/{seed['job'].pk}/",
        "/app/usage/",
        "/team/",
        "/api-keys/",
        "/billing/",
        "/billing/success",
        "/billing/cancel",
        "/workspaces/",
        "/account/",
        "/account/password/",
        "/webhooks/",
        "/staff/usage",
        "/api/docs",
        "/app/no-such-page/",
    ]


SIGNED_OUT_PAGES = ["/", "/login/", "/signup/", "/password-reset/", "/api/docs"]


def test_every_page_fits_a_360px_phone(live_server: Any, browser: Any, artifacts_dir: Path) -> None:
    seed = _seed()
    base = live_server.url
    guest = browser.new_context(viewport=NARROW).new_page()
    too_wide = []
    for path in SIGNED_OUT_PAGES:
        guest.goto(base + path)
        guest.wait_for_load_state("networkidle")
        if scroll_width(guest) > NARROW["width"]:
            too_wide.append((path, scroll_width(guest)))
    page = signed_in(browser, base, seed["user"], seed["team"], viewport=NARROW)
    for path in _signed_in_pages(seed):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        if scroll_width(page) > NARROW["width"]:
            too_wide.append((path, scroll_width(page)))
            shot(page, artifacts_dir, "too-wide-" + path.strip("/").replace("/", "-"))
    print("TOO WIDE", too_wide)
    assert not too_wide, too_wide


def test_signed_out_header_keeps_links_off_the_wordmark(live_server: Any, browser: Any) -> None:
    page = browser.new_context(viewport=PHONE).new_page()
    for width in (320, 360, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(live_server.url + "/")
        brand = page.locator(".brand").bounding_box()
        assert brand is not None
        for link in page.locator(".topbar nav a").all():
            box = link.bounding_box()
            assert box is not None
            apart = (
                box["x"] >= brand["x"] + brand["width"]
                or box["y"] >= brand["y"] + brand["height"]
                or box["x"] + box["width"] <= brand["x"]
            )
            assert apart, (width, link.inner_text(), box, brand)
        assert scroll_width(page) <= width


def test_badges_are_legible_and_select_boxes_big_enough(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    seed = _seed()
    base = live_server.url
    page = signed_in(browser, base, seed["user"], seed["team"])
    weak = []
    for path in ("/app/batches/", "/workspaces/", f"/app/cutouts/{seed['cutout'].pk}/", "/team/"):
        page.goto(base + path)
        for badge in page.locator(".badge, .source-badge").all():
            found = badge.evaluate(CONTRAST_JS)
            if found["ratio"] < 4.5:
                weak.append((path, found))
    assert not weak, weak

    page.goto(base + "/app/library/")
    boxes = page.locator("#library-grid input[type=checkbox], #select-all")
    assert boxes.count() >= 2
    for box in boxes.all():
        size = box.bounding_box()
        assert size is not None and size["width"] >= 24 and size["height"] >= 24, size
    # The label around each card's box is a bigger target still, and checks it.
    target = page.locator("#library-grid .card-check").first
    size = target.bounding_box()
    assert size is not None and size["width"] >= 24 and size["height"] >= 24
    target.click(position={"x": 3, "y": 3})
    assert page.locator("#library-grid input[type=checkbox]").first.is_checked()


def test_staff_usage_names_each_workspace_by_owner_and_slug(
    live_server: Any, browser: Any, artifacts_dir: Path
) -> None:
    from billing.services import credits_capture, credits_reserve

    staff = make_user("staff.person@example.com")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    people = [make_user(f"person{n}@example.com") for n in range(3)]
    for n, person in enumerate(people):
        workspace = personal_workspace(person)
        reservation = credits_reserve(workspace=workspace, amount=1, idempotency_key=f"use-{n}")
        credits_capture(reservation=reservation)
    page = signed_in(browser, live_server.url, staff, personal_workspace(staff))
    page.goto(live_server.url + "/staff/usage")
    table = page.locator("#usage-table")
    for person in people:
        workspace = personal_workspace(person)
        row = table.locator("tr", has_text=person.email)
        assert row.count() == 1, person.email
        assert workspace.slug in row.inner_text()
    options = page.locator("select[name=workspace] option")
    labels = [options.nth(i).inner_text() for i in range(options.count())]
    assert len(set(labels)) == len(labels)
    show = page.get_by_role("button", name="Show")
    assert "button" in (show.get_attribute("class") or "")
    assert show.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(79, 70, 229)"
    shot(page, artifacts_dir, "staff-usage")
