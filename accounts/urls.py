"""Account URLs, grouped as the views are: one ``accounts.views`` module per group."""

from django.contrib.auth import views as django_auth
from django.urls import URLPattern, URLResolver, path, reverse_lazy

from accounts.views import api_keys, auth, invitations, team, workspaces

urlpatterns: list[URLPattern | URLResolver] = [
    # Signing up and in, passwords, email verification: accounts.views.auth
    path("signup/", auth.signup, name="signup"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", django_auth.LogoutView.as_view(), name="logout"),
    path("account/", auth.account, name="account"),
    path(
        "account/password/",
        django_auth.PasswordChangeView.as_view(success_url=reverse_lazy("password_change_done")),
        name="password_change",
    ),
    path(
        "account/password/done/",
        django_auth.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password-reset/",
        auth.PasswordResetView.as_view(
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
            success_url=reverse_lazy("password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        django_auth.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        django_auth.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("password_reset_complete")
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        django_auth.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # verify_email without a token: the status page (POST sends a new link).
    path("account/verify/", auth.verify_email, name="verify_email"),
    path("account/verify/<str:token>/", auth.verify_email, name="verify_email"),
    # The user's workspaces: accounts.views.workspaces
    path("workspaces/", workspaces.workspaces, name="workspaces"),
    path("workspaces/switch/", workspaces.workspace_switch, name="workspace_switch"),
    # The current workspace's team: accounts.views.team
    path("team/", team.team, name="team"),
    path("team/invite/", team.team_invite, name="team_invite"),
    path("team/settings/", team.team_settings, name="team_settings"),
    path("team/leave/", team.team_leave, name="team_leave"),
    path("team/members/<int:pk>/role/", team.team_member_role, name="team_member_role"),
    path("team/members/<int:pk>/remove/", team.team_member_remove, name="team_member_remove"),
    path("team/invitations/<int:pk>/revoke/", team.invitation_revoke, name="invitation_revoke"),
    # Invitation links: accounts.views.invitations
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
    # API keys: accounts.views.api_keys
    path("api-keys/", api_keys.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/", api_keys.api_key_update, name="api_key_update"),
    path("api-keys/<int:pk>/revoke/", api_keys.api_key_revoke, name="api_key_revoke"),
]
