"""Every API route: the drop-in dialects, the native API and its documentation."""

from django.urls import path, re_path

from cutout.api import ailab, api4ai, native, openapi, removebg, seed004
from cutout.api.common import not_found_view

urlpatterns = [
    # AILabTools (seeds 000, 001, 003)
    path(
        "api/cutout/general/universal-background-removal",
        ailab.universal,
        name="ailab_universal",
    ),
    path("api/cutout/general/food-background-removal", ailab.food, name="ailab_food"),
    path(
        "api/cutout/general/commodity-background-removal",
        ailab.commodity,
        name="ailab_commodity",
    ),
    re_path(r"^api/cutout/(?P<rest>.*)$", not_found_view(ailab.DIALECT)),
    # API4AI (seed 002)
    path("v1/version", api4ai.version, name="api4ai_version"),
    path("v1/modes", api4ai.modes, name="api4ai_modes"),
    path("v1/results", api4ai.results, name="api4ai_results"),
    # Seed 004
    path("v1/remove-background", seed004.remove_background, name="seed004_remove_background"),
    re_path(r"^v1/(?P<rest>.*)$", not_found_view(api4ai.DIALECT)),
    # remove.bg
    path("v1.0/removebg", removebg.removebg, name="removebg"),
    re_path(r"^v1\.0/(?P<rest>.*)$", not_found_view(removebg.DIALECT)),
    # Native API
    path("api/v1/cutouts", native.cutouts, name="api_cutouts"),
    path("api/v1/cutouts/<str:cutout_id>", native.cutout_detail, name="api_cutout"),
    path("api/v1/jobs/<str:job_id>", native.job_detail, name="api_job"),
    path("api/v1/account", native.account, name="api_account"),
    path("api/v1/models", native.models, name="api_models"),
    path("api/openapi.json", openapi.openapi_json, name="api_openapi"),
    path("api/docs", openapi.docs, name="api_docs"),
    re_path(r"^api/v1/(?P<rest>.*)$", not_found_view(native.DIALECT)),
]
