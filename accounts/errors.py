"""Errors raised by account services. Each has a stable ``code`` and a message fit for a person."""

from __future__ import annotations


class AccountsError(Exception):
    code = "accounts_error"
    default_message = "That could not be done."

    def __init__(self, message: str = "") -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class NotAllowed(AccountsError):
    """The acting member's role does not allow this."""

    code = "not_allowed"
    default_message = "Your role in this workspace does not allow that."


class LastOwnerError(AccountsError):
    """The change would leave a workspace without an owner."""

    code = "last_owner"
    default_message = "A workspace needs at least one owner: make someone else an owner first."


class EmailTaken(AccountsError):
    code = "email_taken"
    default_message = "An account with this email address already exists."


class AlreadyMember(AccountsError):
    code = "already_member"
    default_message = "That person is already a member of this workspace."


class PersonalWorkspaceError(AccountsError):
    """Personal workspaces have exactly one member; teams are for sharing."""

    code = "personal_workspace"
    default_message = "A personal workspace cannot be shared: create a team workspace instead."


class InvitationInvalid(AccountsError):
    code = "invitation_invalid"
    default_message = "This invitation link is not valid. Ask for a new one."


class InvitationExpired(InvitationInvalid):
    code = "invitation_expired"
    default_message = "This invitation has expired. Ask for a new one."


class InvitationUsed(InvitationInvalid):
    code = "invitation_used"
    default_message = "This invitation has already been used."


class InvitationRevoked(InvitationInvalid):
    code = "invitation_revoked"
    default_message = "This invitation was withdrawn. Ask for a new one."


class InvitationWrongUser(AccountsError):
    code = "invitation_wrong_user"
    default_message = "This invitation was sent to a different email address."


class EmailNotSent(AccountsError):
    """The mail server refused or could not be reached; the caller may try again."""

    code = "email_not_sent"
    default_message = "We could not send the email just now. Please try again in a moment."


class VerificationInvalid(AccountsError):
    code = "verification_invalid"
    default_message = "This verification link is not valid or has expired. Send a new one."
