"""Django admin for users, workspaces, memberships, invitations and API keys.

Changelists load their foreign keys with ``list_select_related`` (or annotations), so a page costs
the same number of queries however many rows it shows (tests pin the counts). API-key secrets are
never stored; their hashes are never shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, Invitation, Membership, User, Workspace


class EmailVerifiedFilter(admin.SimpleListFilter):
    title = "email confirmed"
    parameter_name = "verified"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(email_verified_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(email_verified_at__isnull=True)
        return queryset


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeFormEmail(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user", "workspace")
    fields = ("workspace", "user", "role", "created_at")
    readonly_fields = ("created_at",)


class UserMembershipInline(MembershipInline):
    fk_name = "user"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("workspace")


class WorkspaceMembershipInline(MembershipInline):
    fk_name = "workspace"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeFormEmail
    add_form = UserCreationForm
    ordering = ("email",)
    search_fields = ("email", "first_name", "last_name")
    list_display = (
        "email",
        "first_name",
        "last_name",
        "email_confirmed",
        "is_staff",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", EmailVerifiedFilter)
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email_verified_at")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = (UserMembershipInline,)

    def get_inlines(self, request: HttpRequest, obj: User | None) -> Any:
        return self.inlines if obj is not None else ()

    @admin.display(boolean=True, description="Email confirmed", ordering="email_verified_at")
    def email_confirmed(self, obj: User) -> bool:
        return obj.email_verified

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        obj.email = services.normalize_email(obj.email)
        super().save_model(request, obj, form, change)
        if not change:
            services.workspace_ensure_personal(user=obj)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "member_count", "created_by", "created_at")
    list_filter = ("kind", "keep_originals", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("name", "slug", "memberships__user__email")
    readonly_fields = ("created_at",)
    raw_id_fields = ("created_by",)
    inlines = (WorkspaceMembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workspace]:
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Workspace) -> int:
        return getattr(obj, "_member_count", 0)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role", "workspace__kind")
    list_select_related = ("user", "workspace")
    search_fields = ("user__email", "workspace__name", "workspace__slug")
    raw_id_fields = ("user", "workspace")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "workspace",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
    )
    list_filter = ("role", ("accepted_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("workspace", "invited_by")
    search_fields = ("email", "workspace__name", "workspace__slug")
    raw_id_fields = ("workspace", "invited_by", "accepted_by")
    readonly_fields = ("created_at", "accepted_at", "accepted_by", "revoked_at")
    actions = ("revoke",)

    @admin.display(description="Status")
    def status(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "withdrawn"
        if obj.expires_at <= timezone.now():
            return "expired"
        return "pending"

    @admin.action(description="Withdraw selected invitations", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        count = 0
        for invitation in queryset.select_related("workspace"):
            services.invitation_revoke(invitation=invitation)
            count += 1
        self.message_user(request, f"Withdrew {count} invitation(s).", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made in the app or with ``manage.py create_api_key`` (the secret is shown once
    there); here they can be inspected, capped, renamed and revoked. The hash is never shown."""

    list_display = (
        "name",
        "masked",
        "workspace",
        "created_by",
        "created_at",
        "last_used_at",
        "monthly_cap",
        "active",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at", "last_used_at")
    list_select_related = ("workspace", "created_by")
    search_fields = ("name", "prefix", "workspace__name", "workspace__slug")
    fields = (
        "name",
        "masked",
        "workspace",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "monthly_cap",
    )
    readonly_fields = (
        "masked",
        "workspace",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Key")
    def masked(self, obj: ApiKey) -> str:
        return f"ck_{obj.prefix}_…"

    @admin.display(boolean=True, description="Active", ordering="revoked_at")
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    @admin.action(description="Revoke selected keys (immediately)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True).select_related("workspace"):
            services.api_key_revoke(api_key=key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
