"""Which result pages open the editor: a finished upload whose original is kept does; a
re-render, or a cutout whose editing window is over, shows the plain before/after viewer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cutout import engine
from cutout.cutouts.rerender import cutout_version
from cutout.cutouts.services import cutout_create
from cutout.models import Cutout, Source
from tests.factories import Persona, signed_up
from tests.web.conftest import photo

pytestmark = pytest.mark.django_db


def _page(person: Persona, cutout: Cutout) -> str:
    response = person.client.get(f"/app/cutouts/{cutout.pk}/")
    assert response.status_code == 200
    return str(response.content.decode())


def test_an_editable_cutout_opens_in_the_editor_and_others_in_the_viewer() -> None:
    person = signed_up(credits=3)
    cutout = cutout_create(
        workspace=person.workspace,
        data=photo(),
        options=engine.Options(pipeline="fast"),
        user=person.user,
        source=Source.WEB,
    )
    html = _page(person, cutout)
    assert 'id="editor"' in html and "js/editor.js" in html and "css/editor.css" in html
    assert f'data-refine-url="/app/cutouts/{cutout.pk}/refine"' in html
    assert 'aria-keyshortcuts="Control+Z"' in html and 'role="status"' in html
    assert 'id="compare"' not in html

    version = cutout_version(
        source=cutout, options=engine.Options(pipeline="fast", mode="mask"), user=person.user
    )
    html = _page(person, version)
    assert 'id="compare"' in html and 'id="editor"' not in html and "editor.js" not in html

    Cutout.objects.filter(pk=cutout.pk).update(editable_until=timezone.now() - timedelta(hours=1))
    html = _page(person, cutout)
    assert 'id="compare"' in html and 'id="editor"' not in html
