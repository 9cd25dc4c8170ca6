"""Every API route, one list per URL prefix (the prefixes are in :mod:`cutout.urls`).

Endpoints also answer with a trailing slash (clients differ); unknown paths under each dialect's
prefix get that dialect's own JSON 404 rather than an HTML page.
"""

from django.urls import URLPattern, re_path

from cutout.api import ailab, api4ai, clipdrop, native, photoroom, pixian, removebg, seed004
from cutout.api.common import not_found_view
from cutout.api.openapi import views as openapi

# /api/v1/: Cutout's own API
native_patterns: list[URLPattern] = [
    re_path(r"^cutouts/?$", native.cutouts, name="api_cutouts"),
    re_path(r"^cutouts/(?P<cutout_id>[^/]+)/?$", native.cutout_detail, name="api_cutout"),
    re_path(
        r"^cutouts/(?P<cutout_id>[^/]+)/refine/?$", native.cutout_refine, name="api_cutout_refine"
    ),
    re_path(r"^jobs/(?P<job_id>[^/]+)/?$", native.job_detail, name="api_job"),
    re_path(r"^account/?$", native.account, name="api_account"),
    re_path(r"^models/?$", native.models, name="api_models"),
    re_path(r"^(?P<rest>.*)$", not_found_view(native.DIALECT)),
]

# /api/: the native API's documentation
docs_patterns: list[URLPattern] = [
    re_path(r"^openapi\.json$", openapi.openapi_json, name="api_openapi"),
    re_path(r"^docs/?$", openapi.docs, name="api_docs"),
    # AILabTools' account call (its SDK's commonQueryCredits) lives outside /api/cutout/
    re_path(r"^common/query-credits/?$", ailab.query_credits, name="ailab_query_credits"),
    re_path(r"^common/(?P<rest>.*)$", not_found_view(ailab.DIALECT)),
    # /api/v2/: Pixian
    re_path(r"^v2/remove-background/?$", pixian.remove_background, name="pixian_remove_background"),
    re_path(r"^v2/account/?$", pixian.account, name="pixian_account"),
    re_path(r"^v2/(?P<rest>.*)$", not_found_view(pixian.DIALECT)),
]

# /api/cutout/: AILabTools (seeds 000, 001, 003)
ailab_patterns: list[URLPattern] = [
    re_path(r"^general/universal-background-removal/?$", ailab.universal, name="ailab_universal"),
    re_path(r"^general/food-background-removal/?$", ailab.food, name="ailab_food"),
    re_path(r"^general/commodity-background-removal/?$", ailab.commodity, name="ailab_commodity"),
    re_path(r"^(?P<rest>.*)$", not_found_view(ailab.DIALECT)),
]

# /v1/: API4AI (seed 002), seed 004 and Photoroom share the prefix (API4AI's catch-all last)
v1_patterns: list[URLPattern] = [
    re_path(r"^segment/?$", photoroom.segment, name="photoroom_segment"),
    re_path(r"^account/?$", photoroom.account, name="photoroom_account"),
    re_path(r"^version/?$", api4ai.version, name="api4ai_version"),
    re_path(r"^modes/?$", api4ai.modes, name="api4ai_modes"),
    re_path(r"^results/?$", api4ai.results, name="api4ai_results"),
    re_path(r"^remove-background/?$", seed004.remove_background, name="seed004_remove_background"),
    # poof.bg's own path (seed 004's service): a client changing only the host lands here
    re_path(r"^remove/?$", seed004.remove_background, name="seed004_remove"),
    re_path(r"^(?P<rest>.*)$", not_found_view(api4ai.DIALECT)),
]

# /v1.0/: remove.bg
removebg_patterns: list[URLPattern] = [
    re_path(r"^removebg/?$", removebg.removebg, name="removebg"),
    re_path(r"^account/?$", removebg.account, name="removebg_account"),
    re_path(r"^(?P<rest>.*)$", not_found_view(removebg.DIALECT)),
]

# /remove-background/: Clipdrop
clipdrop_patterns: list[URLPattern] = [
    re_path(r"^v1/?$", clipdrop.remove_background, name="clipdrop_remove_background"),
    re_path(r"^(?P<rest>.*)$", not_found_view(clipdrop.DIALECT)),
]

# /img-bg-removal/v1/: API4AI's own host path (its examples call api4ai.cloud/img-bg-removal/v1/...)
api4ai_patterns: list[URLPattern] = [
    re_path(r"^version/?$", api4ai.version),
    re_path(r"^modes/?$", api4ai.modes),
    re_path(r"^results/?$", api4ai.results),
    re_path(r"^(?P<rest>.*)$", not_found_view(api4ai.DIALECT)),
]
