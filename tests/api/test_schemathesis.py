"""Property-based run of every API (native and drop-in dialects) against the OpenAPI document
(schemathesis).

Each operation is exercised in-process through the WSGI app with a real API key: generated
requests (valid and invalid) must never give a 5xx, an undocumented status, content type or
header, or a body that breaks the schema. Bounded (few examples per operation) so it stays quick.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from cutout.api.openapi.document import document
from cutout.wsgi import application
from tests.factories import make_caller

schema = schemathesis.openapi.from_dict(document())
schema.app = application

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def api_secret(transactional_db: None) -> str:
    """A key with credits. Committed (transactional test): async jobs run from on_commit."""
    return make_caller(credits=1000).secret


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_dialect_honours_its_schema(case, api_secret, settings_fast, eager) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {api_secret}"}, checks=CHECKS)


@pytest.fixture
def settings_fast(settings) -> None:
    settings.CUTOUT_DEFAULT_PIPELINE = "fast"
    settings.CUTOUT_API_RATE_LIMIT = 100_000
