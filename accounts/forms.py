from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts import permissions
from accounts.models import User


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form; the email address is matched case-insensitively (stored lower)."""

    def clean_username(self) -> str:
        return (self.cleaned_data.get("username") or "").strip().lower()


class SignupForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not a common password, not all digits.",
    )
    password2 = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email address already exists. Log in, or reset your "
                "password if you forgot it.",
                code="email_taken",
            )
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            try:
                password_validation.validate_password(p1, User(email=data.get("email", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the team a name.")
        return name


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    keep_originals = forms.BooleanField(
        label="Keep uploaded originals",
        required=False,
        help_text="Off: originals are deleted as soon as the cutout is made.",
    )
    retention_days = forms.IntegerField(
        label="Delete results after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Empty: keep results until deleted.",
    )


class RoleChoiceMixin:
    def limit_roles(self, actor_role: str) -> None:
        field = self.fields["role"]  # type: ignore[attr-defined]
        field.choices = permissions.assignable_roles(actor_role)


class InviteForm(RoleChoiceMixin, forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(label="Role", choices=())

    def __init__(self, *args: Any, actor_role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_roles(actor_role)
        self.fields["role"].initial = "member"

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class RoleForm(RoleChoiceMixin, forms.Form):
    role = forms.ChoiceField(label="Role", choices=())

    def __init__(self, *args: Any, actor_role: str, subject: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_roles(actor_role)
        if subject:
            self.fields["role"].widget.attrs["aria-label"] = f"Role of {subject}"


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="Where the key is used.")
    monthly_cap = forms.IntegerField(
        label="Monthly credit cap",
        required=False,
        min_value=0,
        max_value=10_000_000,
        help_text="Most credits this key may spend per calendar month. Empty: no cap.",
    )
