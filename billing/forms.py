"""The billing page's form: moving credits between two workspaces the person owns."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Workspace


class TransferForm(forms.Form):
    source = forms.ChoiceField(label="From")
    target = forms.ChoiceField(label="To")
    amount = forms.IntegerField(label="Credits", min_value=1, max_value=1_000_000)
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, owned: list[tuple[Workspace, int]], **kwargs: Any) -> None:
        """``owned``: the workspaces the person owns, each with its credits available."""
        super().__init__(*args, **kwargs)
        self.owned = {str(ws.pk): ws for ws, _ in owned}
        choices = [(str(ws.pk), f"{ws.name} ({available} available)") for ws, available in owned]
        for name in ("source", "target"):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("source") and data.get("source") == data.get("target"):
            self.add_error("target", "Choose two different workspaces.")
        return data

    def workspaces(self) -> tuple[Workspace, Workspace]:
        return self.owned[self.cleaned_data["source"]], self.owned[self.cleaned_data["target"]]
