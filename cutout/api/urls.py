"""Every API route: the drop-in dialects, the native API and its documentation.

Endpoints also answer with a trailing slash (clients differ); unknown paths under each dialect's
prefix get that dialect's own JSON 404 rather than an HTML page.
"""

from django.urls import re_path

from cutout.api import ailab, api4ai, native, openapi, removebg, seed004
from cutout.api.common import not_found_view

AILAB = r"^api/cutout/general/"

urlpatterns = [
    # AILabTools (seeds 000, 001, 003)
    re_path(AILAB + r"universal-background-removal/?$", ailab.universal, name="ailab_universal"),
    re_path(AILAB + r"food-background-removal/?$", ailab.food, name="ailab_food"),
    re_path(AILAB + r"commodity-background-removal/?$", ailab.commodity, name="ailab_commodity"),
    re_path(r"^api/cutout/(?P<rest>.*)$", not_found_view(ailab.DIALECT)),
    # API4AI (seed 002)
    re_path(r"^v1/version/?$", api4ai.version, name="api4ai_version"),
    re_path(r"^v1/modes/?$", api4ai.modes, name="api4ai_modes"),
    re_path(r"^v1/results/?$", api4ai.results, name="api4ai_results"),
    # Seed 004
    re_path(
        r"^v1/remove-background/?$", seed004.remove_background, name="seed004_remove_background"
    ),
    re_path(r"^v1/(?P<rest>.*)$", not_found_view(api4ai.DIALECT)),
    # remove.bg
    re_path(r"^v1\.0/removebg/?$", removebg.removebg, name="removebg"),
    re_path(r"^v1\.0/account/?$", removebg.account, name="removebg_account"),
    re_path(r"^v1\.0/(?P<rest>.*)$", not_found_view(removebg.DIALECT)),
    # Native API
    re_path(r"^api/v1/cutouts/?$", native.cutouts, name="api_cutouts"),
    re_path(r"^api/v1/cutouts/(?P<cutout_id>[^/]+)/?$", native.cutout_detail, name="api_cutout"),
    re_path(r"^api/v1/jobs/(?P<job_id>[^/]+)/?$", native.job_detail, name="api_job"),
    re_path(r"^api/v1/account/?$", native.account, name="api_account"),
    re_path(r"^api/v1/models/?$", native.models, name="api_models"),
    re_path(r"^api/openapi\.json$", openapi.openapi_json, name="api_openapi"),
    re_path(r"^api/docs/?$", openapi.docs, name="api_docs"),
    re_path(r"^api/v1/(?P<rest>.*)$", not_found_view(native.DIALECT)),
]
